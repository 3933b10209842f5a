import { MeshgateError } from '../../core/errors.js';
import { rootLogger } from '../../core/log.js';
import { DEMO_AUTHTOKEN, LocalCluster } from '../../cluster/local-cluster.js';
import { parseFlags, stringFlag } from '../flags.js';
import { untilSignal } from '../signals.js';

const USAGE = 'meshgate cluster up [--regions eu,us,jp] [--host 127.0.0.1] [--http-port 8080] [--https-port 8443] [--tunnel-port 4443] [--peer-port 7443] [--redis redis://host:port]  (each further region: ports + 100)';

function port(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new MeshgateError('MG_FLAG_INVALID', { field: flag, detail: `'${v}' is not a port number (0-65535)` });
  return n;
}

function redisFlag(v: string | undefined): string | undefined {
  if (v !== undefined && !/^rediss?:\/\/\S+$/.test(v)) throw new MeshgateError('MG_FLAG_INVALID', { field: '--redis', detail: `'${v}' is not a redis:// URL (e.g. redis://127.0.0.1:6379)` });
  return v;
}

/** `meshgate cluster up`: the local demo cluster, until Ctrl-C. */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] !== 'up') {
    throw new MeshgateError('MG_FLAG_INVALID', { field: argv[0] ?? 'cluster', detail: `expected 'up'\nusage: ${USAGE}` });
  }
  const p = parseFlags(
    argv.slice(1),
    { regions: { type: 'string' }, host: { type: 'string' }, 'http-port': { type: 'string' }, 'https-port': { type: 'string' }, 'tunnel-port': { type: 'string' }, 'peer-port': { type: 'string' }, redis: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    USAGE,
  );
  if (p.values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const regions = (stringFlag(p, 'regions') ?? 'eu,us,jp').split(',').map((r) => r.trim()).filter(Boolean);
  const bad = regions.find((r) => !/^[a-z0-9][a-z0-9-]{0,31}$/.test(r));
  if (bad !== undefined || regions.length === 0 || new Set(regions).size !== regions.length) {
    throw new MeshgateError('MG_FLAG_INVALID', { field: '--regions', detail: `expected distinct lower-case labels such as eu,us,jp; got '${stringFlag(p, 'regions')}'` });
  }
  const log = rootLogger.child({ component: 'cluster' });
  const cluster = new LocalCluster({
    regions,
    host: stringFlag(p, 'host') ?? '127.0.0.1',
    httpPort: port(stringFlag(p, 'http-port'), '--http-port', 8080),
    httpsPort: port(stringFlag(p, 'https-port'), '--https-port', 8443),
    tunnelPort: port(stringFlag(p, 'tunnel-port'), '--tunnel-port', 4443),
    peerPort: port(stringFlag(p, 'peer-port'), '--peer-port', 7443),
    redis: redisFlag(stringFlag(p, 'redis')),
    log,
  });
  const started = performance.now();
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
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const first = info.edges[0].listeners;
  const rows = info.edges.map((e) => `  ${e.region.padEnd(7)} ${e.node.padEnd(8)} ${e.listeners.http.padEnd(17)} ${e.listeners.https.padEnd(17)} ${e.listeners.tunnel.padEnd(17)} ${e.listeners.peer ?? '-'}`);
  const out = [
    '',
    `meshgate local cluster is up (${info.edges.length} edge node${info.edges.length > 1 ? 's' : ''}, ${seconds} s; presence over gRPC${stringFlag(p, 'redis') ? ' + Redis' : ''})`,
    '',
    '  region  node     http              https             tunnel (agents)   peer (gRPC)',
    ...rows,
    '',
    '  upstream  region  agent endpoint',
    ...info.upstreams.map((u) => `  ${u.name.padEnd(9)} ${u.region.padEnd(7)} ${u.url}  <- ${u.addr}`),
    '',
    `  more agents: meshgate agent http 9090 --url https://baz.internal --edge ${first.tunnel} --authtoken ${DEMO_AUTHTOKEN}`,
    '',
    'try (any edge serves every route; each prefers members in its own region):',
    ...info.edges.map((e) => `  curl -H 'Host: api.example.com' http://${e.listeners.http}/foo/get      # entering ${e.region}`),
    `  curl -H 'Host: api.example.com' http://${first.http}/bar/get`,
    `  curl -H 'Host: api.example.com' http://${first.http}/other        # 403 from the policy`,
    `  curl -H 'Host: headers.example.com' -H 'x-api: foo' http://${first.http}/get`,
    `  curl -k --resolve api.example.com:${first.https.split(':').pop()}:127.0.0.1 https://api.example.com:${first.https.split(':').pop()}/foo/get`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(out.join('\n'));
  log.ready({ edges: info.edges, upstreams: info.upstreams, listeners: first, seconds: Number(seconds) });
  await stop;
  process.stdout.write('\nstopping...\n');
  await cluster.down();
  return 0;
}
