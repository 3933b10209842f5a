/**
 * Real child processes for integration and e2e tests: start `bin/meshgate ...`, wait (bounded)
 * for its JSON `ready` line, keep its output for assertions, stop it (SIGTERM, then SIGKILL).
 * Every process started here is registered and killed by `stopAll()` in an `after` hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MESHGATE = join(REPO_ROOT, 'bin', 'meshgate');

const live = new Set<Proc>();

export class Proc {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;
  private lineWaiters: Array<{ test: (l: string) => boolean; resolve: (l: string) => void }> = [];

  constructor(readonly name: string, readonly child: ChildProcess) {
    live.add(this);
    const split = (stream: NodeJS.ReadableStream | null, into: string[]) => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          into.push(line);
          if (process.env.MESHGATE_TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
          this.lineWaiters = this.lineWaiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
        }
      });
    };
    split(child.stdout, this.stdout);
    split(child.stderr, this.stderr);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, sig) => {
        this.exitCode = code ?? (sig ? -1 : null);
        live.delete(this);
        resolve(code);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for an output line (stdout or stderr) matching `test`, seen already or future. */
  waitLine(test: (line: string) => boolean, timeoutMs = 15_000, what = 'line'): Promise<string> {
    const seen = [...this.stderr, ...this.stdout].find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\nstderr:\n${this.stderr.join('\n')}\nstdout:\n${this.stdout.join('\n')}`)), timeoutMs);
      const w = { test, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
      this.lineWaiters.push(w);
      this.exited.then((code) => {
        clearTimeout(t);
        reject(new Error(`${this.name} exited (${code}) before ${what}\nstderr:\n${this.stderr.join('\n')}\nstdout:\n${this.stdout.join('\n')}`));
      });
    });
  }

  /** Waits for the JSON `ready` line and returns it parsed. */
  async ready(timeoutMs = 15_000): Promise<Record<string, any>> {
    const line = await this.waitLine((l) => l.startsWith('{') && l.includes('"msg":"ready"'), timeoutMs, 'ready line');
    return JSON.parse(line);
  }

  /** JSON log lines on stderr, parsed. */
  logs(): Array<Record<string, any>> {
    return this.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitCode === undefined) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  logLevel?: string;
}

/** Starts `meshgate <args>` as a separate OS process. */
export function meshgate(name: string, args: string[], opts: StartOptions = {}): Proc {
  const child = spawn(process.execPath, [MESHGATE, ...args, '--log-level', opts.logLevel ?? 'info'], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, MESHGATE_EDGE: '', MESHGATE_AUTHTOKEN: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(name, child);
}

/** Runs a meshgate command that is expected to exit; bounded by `timeoutMs`. */
export async function meshgateRun(args: string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = meshgate(`run ${args[0]}`, args, opts);
  const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const code = await p.exited;
  clearTimeout(t);
  return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('\n') };
}

/** Kills every process still running (use in `after`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(3_000)));
}

/** A fresh temp dir with the given files written into it. */
export function tempFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-test-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Resident set size of a process in KiB (from /proc). */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}
