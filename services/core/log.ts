/**
 * Structured logs: one JSON object per line on stderr with `time, level, msg, component` and the
 * process's bound fields (`node`, `region`, ...). Quiet by default: `info` carries only lifecycle
 * events (ready, connected, disconnected); per-request detail is `debug`.
 *
 * Writing is synchronous on purpose (stderr is a pipe or tty): a crash never loses the last line.
 */

export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function isLevel(s: string): s is Level {
  return s in RANK;
}

let threshold = RANK[(process.env.MESHGATE_LOG_LEVEL as Level) in RANK ? (process.env.MESHGATE_LOG_LEVEL as Level) : 'info'];
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

/** Sets the global level (from `--log-level`). */
export function setLogLevel(level: Level): void {
  threshold = RANK[level];
}

/** Redirects output (tests of pure logic only). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

export class Logger {
  constructor(private readonly bound: Readonly<Record<string, unknown>>) {}

  /** A logger with more bound fields, e.g. `log.child({component: 'tunnel'})`. */
  child(fields: Record<string, unknown>): Logger {
    return new Logger({ ...this.bound, ...fields });
  }

  enabled(level: Level): boolean {
    return RANK[level] >= threshold;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    if (RANK.debug >= threshold) this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    if (RANK.info >= threshold) this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    if (RANK.warn >= threshold) this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    if (RANK.error >= threshold) this.write('error', msg, fields);
  }

  /**
   * The one `ready` line each process prints when it serves, whatever the level: tests and
   * `cluster up` wait on it.
   */
  ready(fields: Record<string, unknown>): void {
    this.write('info', 'ready', fields);
  }

  private write(level: Level, msg: string, fields?: Record<string, unknown>): void {
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...this.bound };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) rec[k] = v instanceof Error ? errorFields(v) : v;
    }
    sink(JSON.stringify(rec));
  }
}

function errorFields(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { message: e.message };
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  return out;
}

export const rootLogger = new Logger({});
