import { MeshgateError } from '../../core/errors.js';
import { rootLogger } from '../../core/log.js';
import { DEMO_AUTHTOKEN, LocalCluster } from '../../cluster/local-cluster.js';
import { parseFlags, stringFlag } from '../flags.js';
import { untilSignal } from '../signals.js';

const USAGE = 'meshgate cluster up [--region eu] [--host 127.0.0.1] [--http-port 8080] [--https-port 8443] [--tunnel-port 4443]';

function port(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new MeshgateError('MG_FLAG_INVALID', { field: flag, detail: `'${v}' is not a port number (0-65535)` });
  return n;
}

/** `meshgate cluster up`: the local demo cluster, until Ctrl-C. */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] !== 'up') {
    throw new MeshgateError('MG_FLAG_INVALID', { field: argv[0] ?? 'cluster', detail: `expected 'up'\nusage: ${USAGE}` });
  }
  const p = parseFlags(argv.slice(1), { region: { type: 'string' }, host: { type: 'string' }, 'http-port': { type: 'string' }, 'https-port': { type: 'string' }, 'tunnel-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (p.values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const log = rootLogger.child({ component: 'cluster' });
  const cluster = new LocalCluster({
    region: stringFlag(p, 'region') ?? 'eu',
    host: stringFlag(p, 'host') ?? '127.0.0.1',
    httpPort: port(stringFlag(p, 'http-port'), '--http-port', 8080),
    httpsPort: port(stringFlag(p, 'https-port'), '--https-port', 8443),
    tunnelPort: port(stringFlag(p, 'tunnel-port'), '--tunnel-port', 4443),
    log,
  });
  const stop = untilSignal();
  let info;
  try {
    info = await Promise.race([cluster.up(), stop.then(() => null)]);
  } catch (e) {
    await cluster.down();
    throw e;
  }
  if (info === null) {
    await cluster.down();
    return 0;
  }
  const http = info.edge.http;
  const https = info.edge.https;
  const out = [
    '',
    'meshgate local cluster is up',
    '',
    '  role        name            address',
    `  edge        ${'eu-1'.padEnd(15)} http ${http}  https ${https}  tunnel ${info.edge.tunnel}`,
    ...Object.entries(info.upstreams).map(([n, a]) => `  upstream    ${n.padEnd(15)} ${a}`),
    ...info.agents.map((a) => `  agent       ${a}`),
    '',
    `  authtoken for more agents: ${DEMO_AUTHTOKEN}   (meshgate agent http 9090 --url https://baz.internal --edge ${info.edge.tunnel} --authtoken ${DEMO_AUTHTOKEN})`,
    '',
    'try:',
    `  curl -H 'Host: api.example.com' http://${http}/foo/get        # balanced over foo-1 / foo-2`,
    `  curl -H 'Host: api.example.com' http://${http}/bar/get        # bar-1`,
    `  curl -H 'Host: api.example.com' http://${http}/other          # 403 from the policy`,
    `  curl -H 'Host: headers.example.com' -H 'x-api: foo' http://${http}/get`,
    `  curl -k --resolve api.example.com:${https.split(':').pop()}:127.0.0.1 https://api.example.com:${https.split(':').pop()}/foo/get`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(out.join('\n'));
  log.ready({ listeners: info.edge, upstreams: info.upstreams });
  await stop;
  process.stdout.write('\nstopping...\n');
  await cluster.down();
  return 0;
}
