/**
 * `meshgate server info|health` (ServerService): what the edge behind `--admin` is and knows,
 * and whether its admin API serves. `health` needs no API key and exits 1 unless SERVING, so
 * scripts can wait on it.
 */
import { dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from '../admin-command.js';
import { formatFields } from '../output.js';

const SUBCOMMANDS: Record<string, Subcommand> = {
  info: {
    usage: 'server info [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const c = ctx.client();
      const info = await c.call(c.server.getServerInfo.bind(c.server), {});
      if (p.values.json) printJson(ctx, info);
      else {
        ctx.out(
          formatFields([
            ['node', info.nodeId],
            ['region', info.region],
            ['version', info.version],
            ['store', `${info.store} (${info.storeRecords} records)`],
            ['peers', info.peers.length ? info.peers.join(', ') : '(none)'],
            ['account', info.account || '(admin key)'],
          ]),
        );
      }
      return 0;
    },
  },
  health: {
    usage: 'server health [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const c = ctx.client();
      const h = await c.call(c.server.health.bind(c.server), {}, { auth: false });
      if (p.values.json) printJson(ctx, h);
      else ctx.out(`${h.status} (${ctx.settings().admin})`);
      return h.status === 'SERVING' ? 0 : 1;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('server', argv, SUBCOMMANDS);
}
