/**
 * `conn.tls.*` as CEL sees it: message types over the connection's PolicyTls (types.ts), so
 * `conn.tls.client.subject.common_name` type-checks at load and `conn.tls.clinet` does not.
 *
 * Whatever is unknown reads as '' (or an empty list): on a tcp:// endpoint everything, on a
 * tls:// endpoint all but `sni` until terminate-tls ran, and `client.*` when the client sent no
 * certificate (`conn.tls.client.pem == ''`). Views are built on first read, per phase run.
 */
import type { PolicyCertificate, PolicyCertificateName, PolicyTls } from '../types.js';

const NO_STRINGS: readonly string[] = Object.freeze([]);

/** `conn.tls.client.subject` / `.issuer` */
export class CelCertName {
  readonly common_name: string;
  readonly organization: string;
  readonly organizational_unit: string;
  readonly country: string;
  readonly province: string;
  readonly locality: string;
  constructor(n: PolicyCertificateName | undefined) {
    this.common_name = n?.commonName ?? '';
    this.organization = n?.organization ?? '';
    this.organizational_unit = n?.organizationalUnit ?? '';
    this.country = n?.country ?? '';
    this.province = n?.province ?? '';
    this.locality = n?.locality ?? '';
  }
}

/** `conn.tls.client.san` */
export class CelCertSan {
  readonly dns_names: readonly string[];
  readonly email_addresses: readonly string[];
  readonly ip_addresses: readonly string[];
  readonly uris: readonly string[];
  constructor(s: PolicyCertificate['san'] | undefined) {
    this.dns_names = s?.dnsNames ?? NO_STRINGS;
    this.email_addresses = s?.emailAddresses ?? NO_STRINGS;
    this.ip_addresses = s?.ipAddresses ?? NO_STRINGS;
    this.uris = s?.uris ?? NO_STRINGS;
  }
}

/** `conn.tls.client.validity` */
export class CelCertValidity {
  readonly not_before: string;
  readonly not_after: string;
  constructor(c: PolicyCertificate | undefined) {
    this.not_before = c?.notBefore ?? '';
    this.not_after = c?.notAfter ?? '';
  }
}

/** `conn.tls.client` / `conn.tls.server` */
export class CelCert {
  #c: PolicyCertificate | undefined;
  constructor(c: PolicyCertificate | undefined) {
    this.#c = c;
  }
  get pem(): string {
    return this.#c?.pem ?? '';
  }
  get subject(): CelCertName {
    return new CelCertName(this.#c?.subject);
  }
  get issuer(): CelCertName {
    return new CelCertName(this.#c?.issuer);
  }
  get san(): CelCertSan {
    return new CelCertSan(this.#c?.san);
  }
  get serial_number(): string {
    return this.#c?.serialNumber ?? '';
  }
  get validity(): CelCertValidity {
    return new CelCertValidity(this.#c);
  }
}

/** `conn.tls` */
export class CelConnTls {
  #t: PolicyTls | undefined;
  constructor(t: PolicyTls | undefined) {
    this.#t = t;
  }
  get version(): string {
    return this.#t?.version ?? '';
  }
  get cipher_suite(): string {
    return this.#t?.cipherSuite ?? '';
  }
  get sni(): string {
    return this.#t?.sni ?? '';
  }
  get client(): CelCert {
    return new CelCert(this.#t?.client);
  }
  get server(): CelCert {
    return new CelCert(this.#t?.server);
  }
}

/** CEL type registrations for the classes above (environment.ts), in dependency order. */
export const CONN_TLS_TYPES = {
  TlsName: {
    display: 'conn.tls.client.subject',
    ctor: CelCertName,
    fields: { common_name: 'string', organization: 'string', organizational_unit: 'string', country: 'string', province: 'string', locality: 'string' },
  },
  TlsSan: {
    display: 'conn.tls.client.san',
    ctor: CelCertSan,
    fields: { dns_names: 'list<string>', email_addresses: 'list<string>', ip_addresses: 'list<string>', uris: 'list<string>' },
  },
  TlsValidity: { display: 'conn.tls.client.validity', ctor: CelCertValidity, fields: { not_before: 'string', not_after: 'string' } },
  TlsCert: {
    display: 'conn.tls.client',
    ctor: CelCert,
    fields: { pem: 'string', subject: 'TlsName', issuer: 'TlsName', san: 'TlsSan', serial_number: 'string', validity: 'TlsValidity' },
  },
  ConnTls: {
    display: 'conn.tls',
    ctor: CelConnTls,
    fields: { version: 'string', cipher_suite: 'string', sni: 'string', client: 'TlsCert', server: 'TlsCert' },
  },
} as const;
