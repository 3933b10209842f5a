/**
 * `meshgate config add-api-key KEY` saves an API key (and optionally the admin address and an
 * account) in a profile of the profile file, so later commands need no flags;
 * `meshgate config show` prints the settings a command would use and where each comes from,
 * with the key masked. The file format and the precedence are described in
 * services/admin/admin-client.ts.
 */
import { existsSync } from 'node:fs';
import { checkAddress, configFilePath, DEFAULT_PROFILE, ENV, maskSecret, saveProfile } from '../../admin/admin-client.js';
import { MeshgateError } from '../../core/errors.js';
import { connectionFlags, dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from '../admin-command.js';
import { formatFields } from '../output.js';

const PROFILE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

const SUBCOMMANDS: Record<string, Subcommand> = {
  'add-api-key': {
    usage: 'config add-api-key KEY [--admin host:port] [--account NAME] [--profile NAME] [--config-file F]',
    async run(p, ctx) {
      const flags = connectionFlags(p);
      const [positional] = positionals(p, ctx.usage, ['KEY'], flags.apiKey !== undefined);
      const key = positional ?? flags.apiKey!;
      if (!key.trim() || /\s/.test(key)) throw new MeshgateError('MG_FLAG_INVALID', { field: 'KEY', detail: 'must be a non-empty API key without spaces' });
      const profile = flags.profile ?? (process.env[ENV.profile] || DEFAULT_PROFILE);
      if (!PROFILE_RE.test(profile)) throw new MeshgateError('MG_FLAG_INVALID', { field: '--profile', detail: `'${profile}' must be 1 to 64 letters, digits, _ . -` });
      if (flags.admin !== undefined) checkAddress(flags.admin, '--admin');
      const file = configFilePath(flags, process.env);
      saveProfile(file, profile, { apiKey: key, admin: flags.admin, account: flags.account });
      ctx.out(`saved API key ${maskSecret(key)} in profile '${profile}' of ${file}`);
      const s = ctx.settings();
      if (!s.admin) ctx.err(`note: profile '${profile}' has no admin address yet; add it with --admin host:port (the edge's listen.admin), or set ${ENV.admin}`);
      return 0;
    },
  },
  show: {
    usage: 'config show [--profile NAME] [--config-file F] [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const s = ctx.settings();
      if (p.values.json) {
        printJson(ctx, {
          configFile: s.configFile,
          configFileExists: existsSync(s.configFile),
          profile: s.profile,
          profileFound: s.profileFound,
          admin: s.admin ?? '',
          adminSource: s.sources.admin ?? '',
          apiKey: maskSecret(s.apiKey),
          apiKeySource: s.sources.apiKey ?? '',
          account: s.account ?? '',
          accountSource: s.sources.account ?? '',
          deadlineMs: s.deadlineMs,
        });
        return 0;
      }
      const from = (v: string | undefined, src: string | undefined, none: string) => (v ? `${v}   (from ${src})` : none);
      ctx.out(
        formatFields([
          ['config file', `${s.configFile}${existsSync(s.configFile) ? '' : ' (does not exist)'}`],
          ['profile', `${s.profile}${s.profileFound ? '' : ' (not in the file)'}`],
          ['admin', from(s.admin, s.sources.admin, `(not set: --admin, ${ENV.admin} or the profile's admin)`)],
          ['api key', from(maskSecret(s.apiKey), s.sources.apiKey, `(not set: --api-key, ${ENV.apiKey} or meshgate config add-api-key KEY)`)],
          ['account', from(s.account, s.sources.account, '(none: the API key\'s own account)')],
          ['deadline', `${s.deadlineMs / 1000} s per call`],
        ]),
      );
      return 0;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('config', argv, SUBCOMMANDS);
}
