/**
 * `terminate-tls` (on_tcp_connect of tls:// endpoints): the edge completes the TLS handshake
 * with the client itself, and the agent's upstream then gets the plaintext. Without it a tls://
 * endpoint is pass-through (the upstream terminates TLS). Continues the phase on success, so
 * later rules can read `conn.tls.*` (e.g. the client certificate's subject); a failed handshake
 * closes the connection (MG_TLS_HANDSHAKE_FAILED) and ends the phase.
 *
 * Config (ngrok's fields):
 *   min_version, max_version            `1.2` | `1.3` (defaults 1.2, 1.3; min ≤ max)
 *   server_certificate, server_private_key
 *                                       PEM (`${}`), given together; default: the edge's own
 *                                       certificate (tls.cert/tls.key of edge.yaml)
 *   mutual_tls_certificate_authorities  list of PEM CA certificates (`${}`, at most 10)
 *   mutual_tls_verification_strategy    `require-and-verify` (default) | `require-any` | `request`
 * Without CAs no client certificate is asked for, unless the strategy is given as require-any or
 * request (then any certificate is accepted: there is nothing to verify it against).
 * Static PEMs are parsed at load (a certificate that does not match its key is refused there);
 * interpolated ones per connection (a bad one is MG_POLICY_RUNTIME_ERROR). CA ids (`ca_...`)
 * are not supported: meshgate has no CA objects.
 *
 * Result: `actions.ngrok.terminate_tls.{version, cipher_suite, sni, client.{subject.common_name,
 * ..., san.dns_names, serial_number, pem}, server.*}` (the same facts as `conn.tls.*`).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import type { ConnectPhaseHost, PolicyCertificate, PolicyTls, TerminateTlsOptions } from '../types.js';
import { describe, readEnum, readTemplate } from './config.js';
import { registerAction, type ActionCompileContext, type ActionDefinition, type ActionRunContext } from './registry.js';
import { readTemplateList } from './util.js';

type Version = TerminateTlsOptions['minVersion'];
type Strategy = 'require-and-verify' | 'require-any' | 'request';

interface TerminateTlsConfig {
  readonly minVersion: Version;
  readonly maxVersion: Version;
  readonly cert: Template | undefined;
  readonly key: Template | undefined;
  readonly cas: readonly Template[];
  readonly clientAuth: TerminateTlsOptions['clientAuth'];
  /** Where the action is, for runtime errors. */
  readonly label: string;
}

const MAX_CAS = 10;
const VERSIONS: Record<string, Version> = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };
const STRATEGIES: readonly Strategy[] = ['require-and-verify', 'require-any', 'request'];
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readVersion(config: Record<string, unknown>, key: string, dflt: Version, cx: ActionCompileContext): Version | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dflt;
  // YAML reads an unquoted 1.2 as a number; 1.3 likewise.
  const text = typeof v === 'number' ? v.toFixed(1) : typeof v === 'string' ? v.trim() : undefined;
  const version = text === undefined ? undefined : VERSIONS[text];
  if (version === undefined) {
    cx.issue(key, `must be 1.2 or 1.3, got ${describe(v)}`);
    return undefined;
  }
  return version;
}

/** The certificates in a PEM text (a chain, or a bundle of CAs). */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/** Why `pem` is not a usable certificate chain, or undefined. */
export function certificateProblem(pem: string): string | undefined {
  const certs = pemCertificates(pem);
  if (certs.length === 0) return 'is not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)';
  for (let i = 0; i < certs.length; i++) {
    try {
      new X509Certificate(certs[i]);
    } catch (e) {
      return `certificate ${i + 1} of the PEM cannot be read: ${(e as Error).message}`;
    }
  }
  return undefined;
}

/** Why `pem` is not a usable private key, or undefined. */
function keyOf(pem: string): KeyObject | string {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return 'is not a PEM private key (-----BEGIN PRIVATE KEY----- ...)';
  try {
    return createPrivateKey(pem);
  } catch (e) {
    return `cannot be read as a private key: ${(e as Error).message}`;
  }
}

/** Why a static certificate/key pair cannot be used, per field; empty when it can. */
export function serverPairProblems(certPem: string, keyPem: string): Array<[field: 'server_certificate' | 'server_private_key', message: string]> {
  const out: Array<['server_certificate' | 'server_private_key', string]> = [];
  const certProblem = certificateProblem(certPem);
  if (certProblem) out.push(['server_certificate', certProblem]);
  const key = keyOf(keyPem);
  if (typeof key === 'string') out.push(['server_private_key', key]);
  if (out.length === 0) {
    const leaf = new X509Certificate(pemCertificates(certPem)[0]);
    if (!leaf.checkPrivateKey(key as KeyObject)) out.push(['server_private_key', 'does not match the public key of server_certificate (the first certificate of the chain)']);
  }
  return out;
}

/** Why a CA PEM cannot be used, or undefined. */
function caProblem(pem: string): string | undefined {
  if (/^\s*ca_[A-Za-z0-9]+\s*$/.test(pem)) return `'${pem.trim()}' looks like a certificate authority id; meshgate has no CA objects: give the CA certificate as PEM`;
  return certificateProblem(pem);
}

export const terminateTls: ActionDefinition<TerminateTlsConfig> = {
  phases: ['on_tcp_connect'],
  fields: ['min_version', 'max_version', 'server_certificate', 'server_private_key', 'mutual_tls_certificate_authorities', 'mutual_tls_verification_strategy'],

  compile(config, cx) {
    let ok = true;
    const protocol = cx.options.protocol;
    if (protocol !== 'tls') {
      cx.issue(
        '',
        protocol === 'https'
          ? 'terminate-tls is only supported on tls:// endpoints; the https listener already terminates TLS with the edge certificate'
          : `terminate-tls is only available on tls:// endpoints, not ${protocol}://`,
      );
      ok = false;
    }
    const minVersion = readVersion(config, 'min_version', 'TLSv1.2', cx);
    const maxVersion = readVersion(config, 'max_version', 'TLSv1.3', cx);
    if (minVersion && maxVersion && minVersion > maxVersion) {
      cx.issue('min_version', `${minVersion.slice(4)} is above max_version ${maxVersion.slice(4)}`);
      ok = false;
    }
    const hasCert = config.server_certificate !== undefined && config.server_certificate !== null;
    const hasKey = config.server_private_key !== undefined && config.server_private_key !== null;
    let cert: Template | undefined;
    let key: Template | undefined;
    if (hasCert !== hasKey) {
      cx.issue(hasCert ? 'server_private_key' : 'server_certificate', `is required with ${hasCert ? 'server_certificate' : 'server_private_key'}: give the certificate and its key together`);
      ok = false;
    } else if (hasCert) {
      cert = readTemplate(config, 'server_certificate', cx, { required: true });
      key = readTemplate(config, 'server_private_key', cx, { required: true });
      if (!cert || !key) ok = false;
      else if (cert.isStatic && key.isStatic) {
        for (const [field, message] of serverPairProblems(cert.staticValue, key.staticValue)) {
          cx.issue(field, message);
          ok = false;
        }
      } else {
        // one of them is interpolated: check the static one alone, the pair per connection
        const problem = cert.isStatic ? certificateProblem(cert.staticValue) : undefined;
        const k = key.isStatic ? keyOf(key.staticValue) : undefined;
        if (problem) cx.issue('server_certificate', problem);
        if (typeof k === 'string') cx.issue('server_private_key', k);
        if (problem || typeof k === 'string') ok = false;
      }
    }
    const cas = readTemplateList(config, 'mutual_tls_certificate_authorities', cx, { min: 0, max: MAX_CAS, what: 'PEM CA certificates' });
    if (!cas) ok = false;
    cas?.forEach((t, i) => {
      if (!t.isStatic) return;
      const p = caProblem(t.staticValue);
      if (p) {
        cx.issue(`mutual_tls_certificate_authorities[${i}]`, p);
        ok = false;
      }
    });
    const strategyGiven = config.mutual_tls_verification_strategy !== undefined && config.mutual_tls_verification_strategy !== null;
    const strategy = readEnum(config, 'mutual_tls_verification_strategy', STRATEGIES, 'require-and-verify', cx);
    if (!strategy) ok = false;
    if (strategyGiven && strategy === 'require-and-verify' && cas && cas.length === 0) {
      cx.issue('mutual_tls_verification_strategy', 'require-and-verify needs mutual_tls_certificate_authorities to verify client certificates against');
      ok = false;
    }
    if (!ok || !minVersion || !maxVersion || !cas || !strategy) return undefined;
    const clientAuth: TerminateTlsOptions['clientAuth'] = cas.length === 0 && !strategyGiven ? 'none' : strategy;
    return { minVersion, maxVersion, cert, key, cas, clientAuth, label: cx.path.replace(/\.config$/, '') };
  },

  termination() {
    return 'maybe';
  },

  run(cx, c) {
    const host = cx.host as Partial<ConnectPhaseHost<unknown>> | undefined;
    if (host?.terminateTls === undefined) return { kind: 'error', code: 'MG_INTERNAL', message: 'terminate-tls ran where the gateway cannot terminate TLS' };
    if (cx.exchange.conn.tls?.version) return { kind: 'error', code: 'MG_TLS_HANDSHAKE_FAILED', message: `${c.label}: TLS was already terminated for this connection` };
    const opts: TerminateTlsOptions = {
      minVersion: c.minVersion,
      maxVersion: c.maxVersion,
      cert: c.cert ? pem(cx, c.cert, 'server_certificate', c.label) : '',
      key: c.key ? pem(cx, c.key, 'server_private_key', c.label) : '',
      clientCas: c.cas.map((t, i) => pem(cx, t, `mutual_tls_certificate_authorities[${i}]`, c.label)),
      clientAuth: c.clientAuth,
    };
    return host.terminateTls(cx.exchange, opts).then((r) => {
      if (!r.ok) return { kind: 'error', code: r.code, message: r.message };
      cx.setResult('terminate_tls', tlsResult(r.tls));
      return undefined;
    });
  },
};

/** A PEM field's value for this connection; an interpolated one that is no PEM at all is a runtime error. */
function pem(cx: ActionRunContext, t: Template, field: string, label: string): string {
  if (t.isStatic) return t.staticValue;
  const v = cx.evalString(t);
  if (!v.includes('-----BEGIN ')) throw new PolicyRuntimeError(`${label}.config.${field}`, 'the interpolated value is not PEM text');
  return v;
}

/** `actions.ngrok.terminate_tls` from the handshake facts (snake_case, like `conn.tls.*`). */
export function tlsResult(t: PolicyTls): Record<string, unknown> {
  return { version: t.version, cipher_suite: t.cipherSuite, sni: t.sni, client: certResult(t.client), server: certResult(t.server) };
}

function certResult(c: PolicyCertificate | undefined): Record<string, unknown> {
  const name = (n: PolicyCertificate['subject'] | undefined) => ({
    common_name: n?.commonName ?? '',
    organization: n?.organization ?? '',
    organizational_unit: n?.organizationalUnit ?? '',
    country: n?.country ?? '',
    province: n?.province ?? '',
    locality: n?.locality ?? '',
  });
  return {
    pem: c?.pem ?? '',
    subject: name(c?.subject),
    issuer: name(c?.issuer),
    san: { dns_names: c?.san.dnsNames ?? [], email_addresses: c?.san.emailAddresses ?? [], ip_addresses: c?.san.ipAddresses ?? [], uris: c?.san.uris ?? [] },
    serial_number: c?.serialNumber ?? '',
    validity: { not_before: c?.notBefore ?? '', not_after: c?.notAfter ?? '' },
  };
}

registerAction('terminate-tls', terminateTls);
