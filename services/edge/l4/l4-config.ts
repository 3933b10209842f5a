/**
 * edge.yaml keys of the L4 listeners (read by edge/config.ts):
 *
 *   listen:
 *     tls: 127.0.0.1:9443        # serves tls:// endpoints, routed by the ClientHello's SNI
 *     tcp_ports: "20000-20100"   # ports tcp:// endpoints may use: ranges and single ports,
 *                                # comma-separated (or a YAML list); each is bound at start
 *     tcp_host: 127.0.0.1        # where those ports are bound; default the host of listen.http
 *                                # (else listen.https, else 0.0.0.0)
 */
import type { Checker } from '../../core/config.js';

/** Most ports one edge binds for tcp endpoints (each is one listening socket). */
export const MAX_TCP_PORTS = 4096;

export interface TcpListenConfig {
  /** Address the ports are bound on. */
  host: string;
  /** Allowed ports, ascending, no duplicates. */
  ports: readonly number[];
}

/** Parses `20000-20100,20200` (or a list of such items / numbers); undefined after reporting an issue. */
export function parsePortSpec(v: unknown, c: Checker, path: readonly (string | number)[]): number[] | undefined {
  const items: unknown[] = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [v];
  const set = new Set<number>();
  for (const raw of items) {
    const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
    const m = text === undefined ? null : /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(text);
    if (!m) {
      c.add(path, `'${String(raw)}' is not a port or a range; write e.g. "20000-20100" or "20001, 20005-20010"`);
      return undefined;
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) {
      c.add(path, `'${text}' is not a valid port range (1-65535, low to high)`);
      return undefined;
    }
    if (hi - lo + 1 + set.size > MAX_TCP_PORTS) {
      c.add(path, `allows more than ${MAX_TCP_PORTS} ports; each one is a listening socket`);
      return undefined;
    }
    for (let p = lo; p <= hi; p++) set.add(p);
  }
  if (set.size === 0) {
    c.add(path, 'lists no port');
    return undefined;
  }
  return [...set].sort((a, b) => a - b);
}

/** `listen.tcp_ports` / `listen.tcp_host` (with the `--tcp-ports` flag); undefined when off. */
export function readTcpListen(c: Checker, listenRaw: Record<string, unknown>, flag: string | undefined, fallbackHost: string | undefined): TcpListenConfig | undefined {
  const spec = flag ?? listenRaw.tcp_ports;
  const hostRaw = c.string(listenRaw.tcp_host, ['listen', 'tcp_host'], { nonEmpty: true });
  if (spec === undefined || spec === null) {
    if (hostRaw !== undefined) c.add(['listen', 'tcp_host'], 'is only used with listen.tcp_ports');
    return undefined;
  }
  const ports = parsePortSpec(spec, c, ['listen', 'tcp_ports']);
  if (hostRaw !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]+|[A-Za-z0-9.-]+)$/.test(hostRaw)) {
    c.add(['listen', 'tcp_host'], `'${hostRaw}' is not a host or IP address (no port: the ports come from tcp_ports)`);
    return undefined;
  }
  if (!ports) return undefined;
  return { host: hostRaw?.replace(/^\[|\]$/g, '') ?? fallbackHost ?? '0.0.0.0', ports };
}
