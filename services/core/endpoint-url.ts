/**
 * Endpoint URLs: parsing, defaulting (ngrok's rules) and the pool key.
 *
 * `foo.internal` → `https://foo.internal`; a missing scheme means https; default ports are
 * dropped from the canonical form. Hosts ending in `.internal` have the internal binding.
 * `*` may only be the first label. Public http/https endpoints use the standard port (the edge's
 * listener address decides the real socket).
 *
 * L4 schemes: `tcp://host:port` always names its port (public: the edge binds that port, which
 * must be in its listen.tcp_ports — checked by the edge, not here; no wildcards). `tls://host` is
 * routed by SNI on port 443 (or the edge's listen.tls port, passed as `rules.tlsPort` and stored
 * as 443); wildcard hosts are allowed as for https.
 */
import { MeshgateError } from './errors.js';

export type EndpointScheme = 'http' | 'https' | 'tcp' | 'tls';
export type EndpointBinding = 'public' | 'internal';

export interface EndpointUrl {
  scheme: EndpointScheme;
  /** Lower-case host, `*.` prefix kept for wildcards. */
  host: string;
  port: number;
  wildcard: boolean;
  binding: EndpointBinding;
  /** Canonical form, e.g. `https://foo.internal` or `http://foo.internal:8080`. */
  url: string;
}

/** 0 = no default (tcp URLs must name their port). */
const DEFAULT_PORT: Record<EndpointScheme, number> = { http: 80, https: 443, tcp: 0, tls: 443 };

/** Edge-specific URL rules; the agent checks without them and the edge decides. */
export interface UrlRules {
  /**
   * Another port accepted for public tls:// URLs besides 443 (the edge's listen.tls port);
   * such a URL is stored as port 443. `'any'` accepts every port (the agent's early check,
   * which cannot know the edge's port).
   */
  tlsPort?: number | 'any';
}
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Parses and canonicalises an endpoint URL; throws MG_ENDPOINT_URL_INVALID / MG_BINDING_INVALID naming `field`. */
export function parseEndpointUrl(raw: string, field = 'url', bindingHint?: string, rules: UrlRules = {}): EndpointUrl {
  const bad = (detail: string) => new MeshgateError('MG_ENDPOINT_URL_INVALID', { field, detail: `'${raw}': ${detail}` });
  const text = raw.trim();
  if (!text) throw bad('is empty; give a URL such as https://api.example.com, https://foo.internal or tcp://db.example.com:20001');
  const m = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*):\/\/)?([^/:?#]+)(?::(\d+))?(\/?)$/.exec(text);
  if (!m) {
    if (/^[a-z]+:\/\/[^/]*\/./i.test(text)) throw bad('an endpoint URL has no path; remove everything after the host and port');
    throw bad('is not a valid endpoint URL; expected [scheme://]host[:port]');
  }
  const scheme = (m[1] ?? 'https').toLowerCase() as EndpointScheme;
  if (!Object.hasOwn(DEFAULT_PORT, scheme)) throw bad(`unknown scheme '${scheme}'; use http://, https://, tcp:// or tls://`);
  const host = m[2].toLowerCase().replace(/\.$/, '');
  const labels = host.split('.');
  const wildcard = labels[0] === '*';
  for (let i = wildcard ? 1 : 0; i < labels.length; i++) {
    if (labels[i] === '*' || labels[i].includes('*')) throw bad("'*' is only allowed as the whole first label, e.g. https://*.example.com");
    if (!LABEL.test(labels[i])) throw bad(`host label '${labels[i]}' is not a valid DNS label`);
  }
  if (labels.length - (wildcard ? 1 : 0) < 2) throw bad('the host needs at least two labels, e.g. foo.internal or api.example.com');
  if (wildcard && scheme === 'tcp') throw bad('tcp endpoints are routed by port, so their host cannot be a wildcard');
  if (scheme === 'tcp' && m[3] === undefined) throw bad('tcp endpoints need a port, e.g. tcp://db.example.com:20001 or tcp://db.internal:5432');
  const binding: EndpointBinding = host.endsWith('.internal') ? 'internal' : 'public';
  if (bindingHint && bindingHint !== binding) {
    if (bindingHint !== 'public' && bindingHint !== 'internal') {
      throw new MeshgateError('MG_BINDING_INVALID', { field: 'binding', detail: `'${bindingHint}' is not a binding; use public or internal` });
    }
    throw new MeshgateError('MG_BINDING_INVALID', {
      field: 'binding',
      detail: bindingHint === 'internal' ? `internal endpoints need a host ending in .internal, got '${host}'` : `hosts ending in .internal are always internal, got '${host}'`,
    });
  }
  let port = DEFAULT_PORT[scheme];
  if (m[3] !== undefined) {
    port = Number(m[3]);
    if (!(port >= 1 && port <= 65535)) throw bad(`port ${m[3]} is out of range 1-65535`);
    if (binding === 'public' && scheme === 'tls' && port !== 443) {
      if (rules.tlsPort !== 'any' && port !== rules.tlsPort) {
        throw bad(`public tls endpoints use port 443${typeof rules.tlsPort === 'number' ? ` or this edge's listen.tls port ${rules.tlsPort}` : ''}; the edge's listen.tls address decides the real port`);
      }
      if (rules.tlsPort !== 'any') port = 443;
    } else if (binding === 'public' && scheme !== 'tcp' && port !== DEFAULT_PORT[scheme]) {
      throw bad(`public ${scheme} endpoints use port ${DEFAULT_PORT[scheme]}; the edge's listen.${scheme} address decides the real port`);
    }
  }
  if (binding === 'internal' && labels.length - (wildcard ? 1 : 0) > 6) throw bad('internal hosts may have at most 5 labels before .internal');
  const url = `${scheme}://${host}${port === DEFAULT_PORT[scheme] ? '' : ':' + port}`;
  return { scheme, host, port, wildcard, binding, url };
}

/** Key of a pool: endpoints with the same key pool together (scheme must then match). */
export function poolKey(u: { binding: EndpointBinding; host: string; port: number }): string {
  return `${u.binding}|${u.host}|${u.port}`;
}

/**
 * Hosts to try for an incoming host name, most specific first: the exact host, then
 * `*.<parent>` for each parent domain (a wildcard matches any depth).
 */
export function hostCandidates(host: string): string[] {
  const out = [host];
  let i = host.indexOf('.');
  while (i !== -1 && i < host.length - 1) {
    out.push('*' + host.slice(i));
    i = host.indexOf('.', i + 1);
  }
  return out;
}

export function defaultPort(scheme: EndpointScheme): number {
  return DEFAULT_PORT[scheme];
}
