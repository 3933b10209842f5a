/**
 * A real `redis-server` process for integration tests: started on a free loopback port with no
 * persistence (`--save '' --appendonly no`, its own temp dir), ready once it answers PING
 * (bounded), killable and restartable on the same port (to test reconnects), stopped in `after`.
 * Every server started here is also SIGKILLed when the test process exits, so none is left running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<RedisServer>();
process.on('exit', () => {
  for (const s of live) s.child?.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Throws a clear error when redis-server is not installed. */
export function requireRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      'redis-server is not installed (needed by the Redis integration tests): run `apt-get install -y redis-server` ' +
        '(`make test` installs it)' + (r.error ? ` [${r.error.message}]` : ''),
    );
  }
}

export class RedisServer {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output: string[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'meshgate-redis-'));

  constructor(readonly port: number) {}

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Spawns redis-server on `port` and waits (at most `timeoutMs`) until it answers PING. */
  async start(timeoutMs = 5_000): Promise<void> {
    if (this.child) throw new Error(`redis-server on port ${this.port} is already running`);
    requireRedisServer();
    mkdirSync(this.dir, { recursive: true });
    this.output = [];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    live.add(this);
    const keep = (d: Buffer) => {
      this.output.push(...d.toString().split('\n').filter(Boolean));
      if (this.output.length > 50) this.output.splice(0, this.output.length - 50);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitedEarly: string | undefined;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, sig) => {
        exitedEarly = `exited (${code ?? sig})`;
        if (this.child === child) this.child = undefined;
        live.delete(this);
        resolve();
      });
      child.on('error', (err) => {
        exitedEarly = err.message;
        if (this.child === child) this.child = undefined;
        live.delete(this);
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exitedEarly) break;
      if (await ping(this.port, 200)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    const why = exitedEarly ?? `no PONG within ${timeoutMs} ms`;
    await this.stop();
    throw new Error(`redis-server on port ${this.port} did not start: ${why}\n${this.output.join('\n')}`);
  }

  /** SIGKILL (a crash: connections reset, nothing saved). Resolves once the process is gone. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; removes its temp dir. Idempotent; `start` may follow. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.child) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a redis-server on a free loopback port (or on `port`). */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const s = new RedisServer(port ?? (await freePort()));
  await s.start();
  return s;
}

/** True when something on 127.0.0.1:`port` answers `PING` with `+PONG` within `timeoutMs`. */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(t);
      sock.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}
