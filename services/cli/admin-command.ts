/**
 * What every admin command (`meshgate endpoints|domains|authtokens|api-keys|accounts|server ...`)
 * shares: the connection flags, subcommand dispatch, positional arguments, reading a file named
 * by a flag, and one AdminClient per command run, always closed.
 */
import { readFile } from 'node:fs/promises';
import { AdminClient, readProfileFile, resolveSettings, type AdminSettings, type ConnectionFlags } from '../admin/admin-client.js';
import { MeshgateError } from '../core/errors.js';
import { parseFlags, stringFlag, type FlagSpec, type Parsed } from './flags.js';
import { jsonText } from './output.js';

/** Flags every admin command accepts. */
export const CONNECTION_FLAGS: FlagSpec = {
  admin: { type: 'string' },
  'api-key': { type: 'string' },
  account: { type: 'string' },
  profile: { type: 'string' },
  'config-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const CONNECTION_USAGE =
  'connection: --admin host:port (env MESHGATE_ADMIN), --api-key KEY (env MESHGATE_API_KEY), --account NAME (env MESHGATE_ACCOUNT; with the admin key),\n' +
  '            --profile NAME (env MESHGATE_PROFILE; default "default"), --config-file F (env MESHGATE_CONFIG; default ~/.config/meshgate/config.yml)';

export interface Subcommand {
  /** One usage line, without the leading `meshgate`. */
  usage: string;
  /** Flags beyond CONNECTION_FLAGS. */
  flags?: FlagSpec;
  /** Flags declared as strings that may also be given bare (`--x` = `--x=true`), see normalizeBoolFlag. */
  boolFlags?: string[];
  run(p: Parsed, ctx: CommandContext): Promise<number>;
}

export interface CommandContext {
  readonly usage: string;
  /** The resolved settings (profile file read on first use). */
  settings(): AdminSettings;
  /** An AdminClient for this run; closed by `dispatch` when the subcommand ends. */
  client(): AdminClient;
  out(text: string): void;
  err(text: string): void;
}

/** Runs `meshgate <noun> <sub> ...`: help, unknown subcommands (exit 2), flags, the client's lifetime. */
export async function dispatch(noun: string, argv: string[], subs: Record<string, Subcommand>, aliases: Record<string, string> = {}): Promise<number> {
  const [first, ...rest] = argv;
  const fullUsage = (): string =>
    `usage:\n${Object.values(subs)
      .map((s) => `  meshgate ${s.usage}`)
      .join('\n')}\n\n${CONNECTION_USAGE}\n`;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(fullUsage());
    return first === undefined ? 2 : 0;
  }
  const sub = subs[first] ?? subs[aliases[first] ?? ''];
  if (!sub) {
    process.stderr.write(`meshgate ${noun}: unknown subcommand '${first}'\n${fullUsage()}`);
    return 2;
  }
  const usage = `meshgate ${sub.usage}`;
  const args = (sub.boolFlags ?? []).reduce(normalizeBoolFlag, rest);
  const p = parseFlags(args, { ...CONNECTION_FLAGS, ...sub.flags }, usage);
  if (p.values.help) {
    process.stdout.write(`usage: ${usage}\n\n${CONNECTION_USAGE}\n`);
    return 0;
  }
  let settings: AdminSettings | undefined;
  let client: AdminClient | undefined;
  const ctx: CommandContext = {
    usage,
    settings: () => (settings ??= settingsFrom(p)),
    client: () => (client ??= new AdminClient(ctx.settings())),
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  };
  try {
    return await sub.run(p, ctx);
  } finally {
    client?.close();
  }
}

/** The connection flags of a parsed command line. */
export function connectionFlags(p: Parsed): ConnectionFlags {
  return {
    admin: stringFlag(p, 'admin'),
    apiKey: stringFlag(p, 'api-key'),
    account: stringFlag(p, 'account'),
    profile: stringFlag(p, 'profile'),
    configFile: stringFlag(p, 'config-file'),
  };
}

export function settingsFrom(p: Parsed): AdminSettings {
  return resolveSettings(connectionFlags(p), process.env, readProfileFile);
}

/**
 * The positional arguments of a subcommand: exactly `names.length` of them (the last one may be
 * optional when `optionalLast`); a missing or extra one is MG_FLAG_INVALID naming it.
 */
export function positionals(p: Parsed, usage: string, names: readonly string[], optionalLast = false): string[] {
  const got = p.positionals;
  const min = optionalLast ? names.length - 1 : names.length;
  if (got.length < min) {
    const missing = names[got.length];
    throw new MeshgateError('MG_FLAG_INVALID', { field: missing, detail: `is missing\nusage: ${usage}` });
  }
  if (got.length > names.length) {
    throw new MeshgateError('MG_FLAG_INVALID', { field: got[names.length], detail: `unexpected argument\nusage: ${usage}` });
  }
  return got;
}

/** Reads the file named by `--flag` (`-` = stdin); an unreadable one names the flag and the path. */
export async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new MeshgateError('MG_FLAG_INVALID', { field: `--${flag}`, detail: `cannot read '${path}': ${why}` });
  }
}

/** Parses a `true|false` flag value (also 1/0, yes/no); anything else names the flag. */
export function boolFlag(flag: string, v: string): boolean {
  const s = v.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new MeshgateError('MG_FLAG_INVALID', { field: `--${flag}`, detail: `must be true or false, got '${v}'` });
}

/**
 * Lets a boolean flag also be written `--flag=true|false` or `--flag true|false`: rewrites argv
 * so the flag can be declared as a string (bare `--flag` = `--flag=true`).
 */
export function normalizeBoolFlag(argv: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === `--${flag}`) {
      const next = argv[i + 1];
      if (next !== undefined && /^(true|false)$/i.test(next)) {
        out.push(`--${flag}=${next}`);
        i++;
      } else out.push(`--${flag}=true`);
    } else out.push(a);
  }
  return out;
}

/** Writes a message as snake_case JSON. */
export function printJson(ctx: CommandContext, message: unknown): void {
  ctx.out(jsonText(message));
}

/** A `--json` flag spec entry. */
export const JSON_FLAG: FlagSpec = { json: { type: 'boolean' } };
