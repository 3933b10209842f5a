import { MeshgateError } from '../../core/errors.js';
import { rootLogger } from '../../core/log.js';
import { createDemoUpstream } from '../../demo/demo-upstream.js';
import { parseFlags, stringFlag } from '../flags.js';
import { untilSignal } from '../signals.js';

const USAGE = 'meshgate demo-upstream --port N [--host 127.0.0.1] [--name NAME]';

/** `meshgate demo-upstream`: an httpbin-like echo service naming its replica. */
export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(argv, { port: { type: 'string' }, host: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (p.values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const portText = stringFlag(p, 'port') ?? '0';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new MeshgateError('MG_FLAG_INVALID', { field: '--port', detail: `'${portText}' is not a port number (0-65535)` });
  const name = stringFlag(p, 'name') ?? `upstream-${port}`;
  const host = stringFlag(p, 'host') ?? '127.0.0.1';
  const log = rootLogger.child({ component: 'demo-upstream', name });
  const server = createDemoUpstream(name);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new MeshgateError('MG_FLAG_INVALID', { field: '--port', detail: `cannot listen on ${host}:${port}: ${e.code}` })));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  log.ready({ listeners: { http: `${addr.address}:${addr.port}` } });
  await untilSignal();
  server.close();
  server.closeAllConnections();
  return 0;
}
