import { installLeanAsyncBind } from '../../core/async-bind.js';
import { loadEdgeConfig } from '../../edge/config.js';
import { EdgeNode } from '../../edge/edge-node.js';
import { parseFlags, requiredFlag, stringFlag } from '../flags.js';
import { untilSignal } from '../signals.js';

const USAGE = 'meshgate edge --config edge.yaml [--region R] [--node-id ID] [--listen-http ADDR] [--listen-https ADDR] [--listen-tunnel ADDR] [--listen-tls ADDR] [--tcp-ports 20000-20100] [--tls-cert F --tls-key F]';

/** `meshgate edge`: runs one edge node until SIGINT/SIGTERM, then drains. */
export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv,
    {
      config: { type: 'string', short: 'c' },
      region: { type: 'string' },
      'node-id': { type: 'string' },
      'listen-http': { type: 'string' },
      'listen-https': { type: 'string' },
      'listen-tunnel': { type: 'string' },
      'listen-tls': { type: 'string' },
      'tcp-ports': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (p.values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const config = loadEdgeConfig(requiredFlag(p, 'config', 'MESHGATE_EDGE_CONFIG'), {
    region: stringFlag(p, 'region'),
    nodeId: stringFlag(p, 'node-id'),
    listenHttp: stringFlag(p, 'listen-http'),
    listenHttps: stringFlag(p, 'listen-https'),
    listenTunnel: stringFlag(p, 'listen-tunnel'),
    listenTls: stringFlag(p, 'listen-tls'),
    tcpPorts: stringFlag(p, 'tcp-ports'),
    tlsCert: stringFlag(p, 'tls-cert'),
    tlsKey: stringFlag(p, 'tls-key'),
  });
  // every request to an agent is an HTTP/2 client stream: see async-bind.ts
  installLeanAsyncBind();
  const edge = new EdgeNode(config);
  await edge.start();
  const sig = await untilSignal();
  edge.log.info('stopping', { signal: sig });
  await edge.stop();
  return 0;
}
