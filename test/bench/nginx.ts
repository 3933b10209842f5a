/**
 * nginx for the proxy bench, configured as in the perf baseline: an upstream answering `GET /`
 * with a fixed 100-byte body, and a reverse proxy (`proxy_pass` to an `upstream` block with
 * `keepalive`, HTTP/1.1, `Connection ""`). Both run `worker_processes 1` as a non-daemon child
 * (`daemon off`) so the bench owns the master's pid and reads the CPU of master + worker; the
 * config, pid, error log and temp paths all live in the run's temp dir.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, Proc, waitForPort } from './procs.js';

/** The upstream's response body: exactly 100 bytes. */
export const BODY = 'x'.repeat(99) + '\n';

/** Path of the nginx binary (root's PATH has /usr/sbin, a user's may not). */
export function nginxBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/local/sbin')) {
    if (dir !== '' && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  throw new Error('nginx not found: run test/bench/setup.sh (as root)');
}

/** Directives shared by both configs: one worker, files in `dir`, no access log, long keep-alive. */
function common(dir: string, name: string, body: string): string {
  return `worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-tmp/body;
  proxy_temp_path ${dir}/${name}-tmp/proxy;
  fastcgi_temp_path ${dir}/${name}-tmp/fastcgi;
  uwsgi_temp_path ${dir}/${name}-tmp/uwsgi;
  scgi_temp_path ${dir}/${name}-tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
${body}
}
`;
}

function upstreamConf(dir: string, port: number): string {
  return common(dir, 'upstream', `  default_type text/plain;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "${BODY.slice(0, -1)}\\n"; }
  }`);
}

function proxyConf(dir: string, port: number, upstreamPort: number): string {
  return common(dir, 'nginx-proxy', `  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`);
}

export interface NginxServer {
  /** The master process (its worker is its child). */
  proc: Proc;
  port: number;
}

/** Writes `conf`, starts nginx on it pinned to `cpus`, and waits until `port` accepts. */
async function startNginx(dir: string, name: string, conf: string, port: number, cpus: string): Promise<NginxServer> {
  const file = join(dir, `${name}.conf`);
  const errorLog = join(dir, `${name}-error.log`);
  writeFileSync(file, conf);
  mkdirSync(join(dir, `${name}-tmp`), { recursive: true });
  const proc = new Proc(name, nginxBinary(), ['-p', dir, '-e', errorLog, '-c', file, '-g', 'daemon off;'], { cpus });
  try {
    await waitForPort(proc, port, 10_000);
  } catch (err) {
    const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
    throw new Error(`${(err as Error).message}\n${name} error log:\n${log}`);
  }
  return { proc, port };
}

/** The upstream every target proxies to. */
export async function startUpstream(dir: string, cpus: string): Promise<NginxServer> {
  const port = await freePort();
  return startNginx(dir, 'upstream', upstreamConf(dir, port), port, cpus);
}

/** Target (a): nginx reverse proxy to the upstream. */
export async function startNginxProxy(dir: string, upstreamPort: number, cpus: string): Promise<NginxServer> {
  const port = await freePort();
  return startNginx(dir, 'nginx-proxy', proxyConf(dir, port, upstreamPort), port, cpus);
}
