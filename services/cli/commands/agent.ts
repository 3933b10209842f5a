import { readFileSync } from 'node:fs';
import { MeshgateError } from '../../core/errors.js';
import { rootLogger } from '../../core/log.js';
import { checkEdgeAddr, checkEndpointUrl, loadAgentConfig, type AgentEndpointSpec } from '../../agent/agent-config.js';
import { Agent, AGENT_VERSION } from '../../agent/session.js';
import { Checker } from '../../core/config.js';
import { resolveTracing, type TracesFileConfig } from '../../telemetry/telemetry-config.js';
import { startAgentTracer } from '../../telemetry/tracing.js';
import { parseUpstream } from '../../agent/upstream.js';
import { parseTcpUpstream } from '../../agent/tcp-upstream.js';
import { parseFlags, stringFlag, type Parsed } from '../flags.js';
import { untilSignal } from '../signals.js';

const USAGE_HTTP = 'meshgate agent http <port|host:port|url> --url URL [--pooling-enabled] [--traffic-policy-file F] [--binding public|internal] [--upstream-tls-verify] [--description D] [--metadata M] --edge HOST:PORT --authtoken TOKEN';
const USAGE_TCP = 'meshgate agent tcp <port|host:port> --url tcp://HOST:PORT [--pooling-enabled] [--traffic-policy-file F] [--binding public|internal] [--description D] [--metadata M] --edge HOST:PORT --authtoken TOKEN';
const USAGE_TLS = 'meshgate agent tls <port|host:port> --url tls://HOST [--pooling-enabled] [--traffic-policy-file F] [--binding public|internal] [--description D] [--metadata M] --edge HOST:PORT --authtoken TOKEN';
const USAGE_START = 'meshgate agent start --config agent.yml [--edge HOST:PORT] [--authtoken TOKEN]';
const USAGE = `usage:\n  ${USAGE_HTTP}\n  ${USAGE_TCP}\n  ${USAGE_TLS}\n  ${USAGE_START}\n\n--edge and --authtoken may also come from MESHGATE_EDGE and MESHGATE_AUTHTOKEN.`;

const COMMON = {
  edge: { type: 'string' },
  authtoken: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `meshgate agent http|start`: runs an agent until SIGINT/SIGTERM. */
export async function run(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE + '\n');
    return sub ? 0 : 2;
  }
  let specs: AgentEndpointSpec[];
  let p: Parsed;
  let fileEdge: string | undefined;
  let fileToken: string | undefined;
  let fileTelemetry: TracesFileConfig | undefined;
  if (sub === 'http' || sub === 'tcp' || sub === 'tls') {
    const usage = sub === 'http' ? USAGE_HTTP : sub === 'tcp' ? USAGE_TCP : USAGE_TLS;
    p = parseFlags(
      argv.slice(1),
      {
        ...COMMON,
        url: { type: 'string' },
        'pooling-enabled': { type: 'boolean' },
        'traffic-policy-file': { type: 'string' },
        binding: { type: 'string' },
        ...(sub === 'http' ? { 'upstream-tls-verify': { type: 'boolean' } } : {}),
        description: { type: 'string' },
        metadata: { type: 'string' },
        name: { type: 'string' },
      },
      usage,
    );
    if (p.values.help) {
      process.stdout.write(`usage: ${usage}\n`);
      return 0;
    }
    if (p.positionals.length !== 1) {
      throw new MeshgateError('MG_FLAG_INVALID', { field: 'upstream', detail: `expected exactly one upstream (a port, host:port${sub === 'http' ? ' or URL' : ''}), got ${p.positionals.length}\nusage: ${usage}` });
    }
    const given = stringFlag(p, 'url');
    const example = sub === 'http' ? 'https://foo.internal' : sub === 'tcp' ? 'tcp://db.example.com:20001' : 'tls://db.example.com';
    if (!given) throw new MeshgateError('MG_FLAG_INVALID', { field: '--url', detail: `is required (random URLs are not supported yet), e.g. --url ${example}` });
    // `agent tcp --url db.example.com:20001` means tcp://db.example.com:20001
    const url = sub !== 'http' && !given.includes('://') ? `${sub}://${given}` : given;
    const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase() ?? 'https';
    if ((sub === 'http') !== (scheme === 'http' || scheme === 'https') || (sub !== 'http' && scheme !== sub)) {
      const cmd = scheme === 'http' || scheme === 'https' ? 'http' : scheme;
      throw new MeshgateError('MG_FLAG_INVALID', { field: '--url', detail: `'${given}' is a ${scheme}:// URL; 'meshgate agent ${sub}' needs a ${sub === 'http' ? 'http:// or https://' : `${sub}://`} URL, e.g. ${example}${['http', 'tcp', 'tls'].includes(cmd) ? ` (or use 'meshgate agent ${cmd}')` : ''}` });
    }
    const binding = stringFlag(p, 'binding') ?? '';
    checkEndpointUrl(url, '--url', binding);
    const upstream = sub === 'http' ? parseUpstream(p.positionals[0], 'upstream', p.values['upstream-tls-verify'] === true) : parseTcpUpstream(p.positionals[0], 'upstream');
    let trafficPolicy = '';
    const tpf = stringFlag(p, 'traffic-policy-file');
    if (tpf) {
      try {
        trafficPolicy = readFileSync(tpf, 'utf8');
      } catch (e) {
        throw new MeshgateError('MG_FLAG_INVALID', { field: '--traffic-policy-file', detail: `cannot read ${tpf}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      }
    }
    specs = [{
      name: stringFlag(p, 'name') ?? url,
      url,
      binding,
      poolingEnabled: p.values['pooling-enabled'] === true,
      trafficPolicy,
      description: stringFlag(p, 'description') ?? '',
      metadata: stringFlag(p, 'metadata') ?? '',
      upstream,
    }];
  } else if (sub === 'start') {
    p = parseFlags(argv.slice(1), { ...COMMON, config: { type: 'string', short: 'c' } }, USAGE_START);
    if (p.values.help) {
      process.stdout.write(`usage: ${USAGE_START}\n`);
      return 0;
    }
    const file = stringFlag(p, 'config');
    if (!file) throw new MeshgateError('MG_FLAG_INVALID', { field: '--config', detail: `is required\nusage: ${USAGE_START}` });
    const cfg = loadAgentConfig(file);
    specs = cfg.endpoints;
    fileEdge = cfg.edge;
    fileToken = cfg.authtoken;
    fileTelemetry = cfg.telemetry;
  } else {
    throw new MeshgateError('MG_FLAG_INVALID', { field: sub, detail: `unknown agent command '${sub}'\n${USAGE}` });
  }

  const edgeAddr = stringFlag(p, 'edge', 'MESHGATE_EDGE') ?? fileEdge;
  if (!edgeAddr) throw new MeshgateError('MG_FLAG_INVALID', { field: '--edge', detail: 'is required (or set MESHGATE_EDGE): the edge\'s tunnel address, e.g. 127.0.0.1:4443' });
  const edge = checkEdgeAddr(edgeAddr);
  const authtoken = stringFlag(p, 'authtoken', 'MESHGATE_AUTHTOKEN') ?? fileToken;
  if (!authtoken) throw new MeshgateError('MG_FLAG_INVALID', { field: '--authtoken', detail: 'is required (or set MESHGATE_AUTHTOKEN)' });

  // OTEL_* variables (and agent.yml telemetry:); off unless an exporter or endpoint is named
  const check = new Checker();
  const tracing = resolveTracing(fileTelemetry, process.env, 'meshgate-agent', check);
  if (!check.ok) throw new MeshgateError('MG_CONFIG_INVALID', { detail: 'tracing settings', issues: check.issues });
  const log = rootLogger.child({ component: 'agent' });
  const tracer = await startAgentTracer(tracing, AGENT_VERSION, log.child({ component: 'tracing' }));
  const agent = new Agent({ edge, authtoken, endpoints: specs, log, tracer });
  let stopped = false;
  const signal = untilSignal().then(async (sig) => {
    stopped = true;
    log.info('stopping', { signal: sig });
    await agent.stop();
    await tracer?.shutdown();
  });
  await agent.run((endpoints, info) => {
    tracer?.identify({ sessionId: info.sessionId, region: info.region, nodeId: info.nodeId });
    log.ready({ edge: edgeAddr, session: info.sessionId, node: info.nodeId, region: info.region, account: info.account, endpoints });
    for (const e of endpoints) process.stdout.write(`online  ${e.url} -> ${e.upstream}  (${e.id}, edge ${info.nodeId}/${info.region})\n`);
  });
  if (stopped) await signal;
  return 0;
}
