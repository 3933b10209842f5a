/**
 * terminate-tls on the edge: the TLS handshake with a client of a tls:// endpoint, as the server,
 * with the certificate, versions and client-certificate rules the endpoint's policy asked for.
 *
 * The ClientHello was already read (for SNI routing); its bytes are pushed back into the socket
 * and the socket handed to a throw-away `tls.Server` (`emit('connection')`), so Node's own server
 * logic applies: client certificates verified against the CAs (a failed verification aborts
 * with a TLS alert), handshake timeout, `authorized`. The certificate is chosen through
 * SNICallback, because the context differs per connection; secure contexts are cached by their
 * PEMs and versions (parsing keys costs far more than the server object).
 */
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { ErrorCode } from '../../core/errors.js';
import type { PolicyCertificate, PolicyCertificateName, PolicyTls, TerminateTlsOptions } from '../../policy/types.js';

/** A client that has not finished its handshake by then is dropped. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Secure contexts kept (distinct certificate/CA/version combinations). */
const CONTEXT_CACHE_SIZE = 256;

export type TerminationResult = { ok: true; socket: tls.TLSSocket; tls: PolicyTls } | { ok: false; code: ErrorCode; message: string };

export class TlsTerminator {
  private readonly contexts = new Map<string, tls.SecureContext>();

  /** `edgeCertificate` gives the edge's own certificate (tls.cert/key, or the dev certificate). */
  constructor(private readonly edgeCertificate: () => Promise<{ cert: string; key: string }>) {}

  /**
   * Completes the handshake on `socket` (paused; `replay` = the bytes already read from it).
   * On failure the socket is destroyed. Never rejects.
   */
  async terminate(socket: net.Socket, replay: Buffer, sni: string, opts: TerminateTlsOptions): Promise<TerminationResult> {
    let ctx: tls.SecureContext;
    try {
      ctx = await this.context(opts);
    } catch (e) {
      socket.destroy();
      return { ok: false, code: 'MG_POLICY_RUNTIME_ERROR', message: `terminate-tls: the certificate, key or CAs cannot be used: ${(e as Error).message}` };
    }
    const requestCert = opts.clientAuth !== 'none';
    const server = tls.createServer({
      SNICallback: (_name, cb) => cb(null, ctx),
      requestCert,
      rejectUnauthorized: opts.clientAuth === 'require-and-verify',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      allowHalfOpen: true,
    });
    return new Promise<TerminationResult>((resolve) => {
      server.once('secureConnection', (t: tls.TLSSocket) => {
        const client = t.getPeerX509Certificate();
        if (opts.clientAuth === 'require-any' && client === undefined) {
          t.destroy();
          return resolve({ ok: false, code: 'MG_TLS_HANDSHAKE_FAILED', message: 'the client sent no certificate (mutual_tls_verification_strategy: require-any)' });
        }
        resolve({
          ok: true,
          socket: t,
          tls: {
            version: versionName(t.getProtocol()),
            cipherSuite: t.getCipher()?.standardName ?? '',
            sni,
            client: client ? certificateFacts(client) : undefined,
            server: certificateFactsOrUndefined(t.getX509Certificate()),
          },
        });
      });
      server.once('tlsClientError', (e: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve({ ok: false, code: 'MG_TLS_HANDSHAKE_FAILED', message: e.code ?? e.message });
      });
      // whatever happened, a connection that closed before the outcome was decided has failed
      socket.once('close', () => resolve({ ok: false, code: 'MG_TLS_HANDSHAKE_FAILED', message: 'the connection closed during the TLS handshake' }));
      if (replay.length > 0) socket.unshift(replay);
      server.emit('connection', socket);
    });
  }

  private async context(o: TerminateTlsOptions): Promise<tls.SecureContext> {
    const own = o.cert === '' ? await this.edgeCertificate() : undefined;
    const cert = own?.cert ?? o.cert;
    const key = own?.key ?? o.key;
    const id = JSON.stringify([o.minVersion, o.maxVersion, cert, key, o.clientCas]);
    let ctx = this.contexts.get(id);
    if (ctx === undefined) {
      ctx = tls.createSecureContext({ cert, key, ca: o.clientCas.length ? [...o.clientCas] : undefined, minVersion: o.minVersion, maxVersion: o.maxVersion });
      if (this.contexts.size >= CONTEXT_CACHE_SIZE) this.contexts.clear();
      this.contexts.set(id, ctx);
    }
    return ctx;
  }
}

/** `TLSv1.3` → `TLS 1.3`. */
function versionName(p: string | null): string {
  return p ? p.replace(/^TLSv/, 'TLS ') : '';
}

function certificateFactsOrUndefined(c: X509Certificate | undefined): PolicyCertificate | undefined {
  return c ? certificateFacts(c) : undefined;
}

/** What `conn.tls.client.*` shows of a certificate. */
export function certificateFacts(c: X509Certificate): PolicyCertificate {
  const san = { dnsNames: [] as string[], emailAddresses: [] as string[], ipAddresses: [] as string[], uris: [] as string[] };
  for (const m of (c.subjectAltName ?? '').matchAll(/(DNS|IP Address|email|URI):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const v = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2].trim();
    if (m[1] === 'DNS') san.dnsNames.push(v);
    else if (m[1] === 'IP Address') san.ipAddresses.push(v);
    else if (m[1] === 'email') san.emailAddresses.push(v);
    else san.uris.push(v);
  }
  return {
    pem: c.toString(),
    subject: distinguishedName(c.subject),
    issuer: distinguishedName(c.issuer),
    san,
    serialNumber: c.serialNumber.toUpperCase(),
    notBefore: isoDate(c.validFrom),
    notAfter: isoDate(c.validTo),
  };
}

/** `C=US\nO=Acme\nCN=svc-a` → the first value of each attribute. */
function distinguishedName(text: string): PolicyCertificateName {
  const first = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !first.has(line.slice(0, i))) first.set(line.slice(0, i), line.slice(i + 1));
  }
  return {
    commonName: first.get('CN') ?? '',
    organization: first.get('O') ?? '',
    organizationalUnit: first.get('OU') ?? '',
    country: first.get('C') ?? '',
    province: first.get('ST') ?? '',
    locality: first.get('L') ?? '',
  };
}

function isoDate(s: string): string {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}
