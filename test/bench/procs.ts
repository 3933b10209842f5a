/**
 * Child processes for the bench: spawn (optionally pinned with `taskset`), read their output
 * line by line, wait for a line with a deadline, stop them. Every process started here is kept
 * in one set so that {@link stopAll} (and the exit/signal hooks installed by
 * {@link installCleanup}) can end whatever is still running, also after an error or Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { processTree } from './cpu.js';

/** How many recent output lines a process keeps for error messages. */
const TAIL_LINES = 40;

const running = new Set<Proc>();

export interface SpawnOptions {
  /** Pin to this CPU list (`taskset -c <cpus>`); taskset execs, so the pid is the command's. */
  cpus?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** A started child process with its output split into lines. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last {@link TAIL_LINES} lines of stdout and stderr, oldest first. */
  readonly tail: string[] = [];
  /** Resolves with the exit code (or signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
  /** Resolves once the process has exited and its stdout/stderr are fully read. */
  readonly closed: Promise<void>;
  exitStatus: number | string | undefined;
  private readonly listeners = new Set<(line: string) => void>();

  constructor(readonly name: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    const [file, argv] = opts.cpus === undefined ? [cmd, args] : ['taskset', ['-c', opts.cpus, cmd, ...args]];
    this.child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`${name}: could not spawn ${file}`);
    this.pid = this.child.pid;
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        this.exitStatus = code ?? signal ?? -1;
        resolve(this.exitStatus);
      });
    });
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', (err) => this.push(`spawn error: ${err.message}`));
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        for (const line of lines) this.push(line);
      });
      stream.on('end', () => { if (partial) this.push(partial); partial = ''; });
    }
  }

  private push(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const fn of this.listeners) fn(line);
  }

  /** Calls `fn` for every later output line until the returned function is called. */
  onLine(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves with the first later line for which `match` returns a value other than undefined.
   * Rejects when the process exits first or after `timeoutMs`, with the output tail.
   */
  waitFor<T>(what: string, match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => { off(); clearTimeout(timer); this.child.off('exit', onExit); };
      const fail = (why: string): void => {
        done();
        reject(new Error(`${this.name}: ${why} while waiting for ${what}\n${this.tailText()}`));
      };
      const onExit = (): void => fail(`exited (${String(this.exitStatus)})`);
      const off = this.onLine((line) => {
        const value = match(line);
        if (value !== undefined) { done(); resolve(value); }
      });
      const timer = setTimeout(() => fail(`no match after ${timeoutMs} ms`), timeoutMs);
      this.child.once('exit', onExit);
      if (this.exitStatus !== undefined) onExit();
    });
  }

  tailText(): string {
    return this.tail.map((l) => `  | ${l}`).join('\n');
  }

  /** SIGTERM, then SIGKILL (to its whole tree) after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exitStatus !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * SIGKILLs the process and its descendants, children first (an nginx worker outlives a
   * SIGKILLed master). Synchronous, so it can run in an 'exit' handler.
   */
  kill(): void {
    for (const pid of processTree(this.pid).reverse()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
}

/** Stops every process this module started and that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/**
 * Makes sure children do not outlive the bench: Ctrl-C / SIGTERM stop them and exit 130/143;
 * a plain exit (including a crash) SIGKILLs what is left, since no async work can run then,
 * and runs `onExit` (synchronous: e.g. removing the temp dir).
 */
export function installCleanup(onExit: () => void = () => {}): void {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping ${running.size} process(es)\n`);
      void stopAll().finally(() => process.exit(code));
    });
  }
  process.once('exit', () => {
    for (const p of running) p.kill();
    onExit();
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot bind port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Waits until 127.0.0.1:`port` accepts a TCP connection (for servers that print no ready line,
 * such as nginx with `daemon off`). Retries every 20 ms up to `timeoutMs`; fails early if `proc`
 * exits.
 */
export async function waitForPort(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitStatus !== undefined) {
      throw new Error(`${proc.name}: exited (${String(proc.exitStatus)}) before listening on ${port}\n${proc.tailText()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      sock.once('connect', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name}: port ${port} not accepting after ${timeoutMs} ms\n${proc.tailText()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
