import selfsigned from 'selfsigned';
import type { Logger } from '../core/log.js';

/**
 * A self-signed certificate for the https listener when edge.yaml gives no `tls:` — for local
 * development only (clients need `curl -k`). Generated in memory at every start (EC P-256).
 */
export async function devCertificate(log: Logger): Promise<{ cert: string; key: string }> {
  log.warn('no tls.cert/tls.key configured: serving https with a generated self-signed certificate (development only)');
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'meshgate-dev' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  } as never);
  return { cert: pems.cert, key: pems.private };
}
