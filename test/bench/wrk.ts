/**
 * Runs wrk and parses its text report (`--latency`): requests, req/s, p50/p99, non-2xx/3xx
 * responses and socket errors.
 */
import { Proc } from './procs.js';

export interface WrkResult {
  /** Requests completed in the run (wrk's "N requests in Xs"). */
  requests: number;
  /** wrk's "Requests/sec". */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** wrk's "Non-2xx or 3xx responses" (0 when the line is absent). */
  non2xx: number;
  /** connect + read + write + timeout from wrk's "Socket errors" line (0 when absent). */
  socketErrors: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Extra request headers, e.g. ["Host: api.bench.test"]. */
  headers?: string[];
  /** CPU list wrk is pinned to. */
  cpus?: string;
}

/** Runs `wrk -t1 -c<connections> -d<duration>s --latency` and parses its report. */
export async function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--latency'];
  for (const h of opts.headers ?? []) args.push('-H', h);
  args.push(opts.url);
  const p = new Proc('wrk', 'wrk', args, { cpus: opts.cpus });
  const lines: string[] = [];
  p.onLine((l) => lines.push(l));
  await p.closed;
  const text = lines.join('\n');
  if (p.exitStatus !== 0) throw new Error(`wrk exited (${String(p.exitStatus)}):\n${text}`);
  return parseWrk(text);
}

const MS_PER_UNIT: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function latencyMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  if (m === null) throw new Error(`wrk output has no ${pct}% latency line:\n${text}`);
  return Number(m[1]) * MS_PER_UNIT[m[2]!]!;
}

/** Parses wrk's report; throws when the required lines are missing. */
export function parseWrk(text: string): WrkResult {
  const req = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)/m.exec(text);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (req === null || rps === null) throw new Error(`unexpected wrk output:\n${text}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: Number(req[1]),
    rps: Number(rps[1]),
    p50Ms: latencyMs(text, '50'),
    p99Ms: latencyMs(text, '99'),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null ? 0 : sock.slice(1).reduce((a, n) => a + Number(n), 0),
  };
}
