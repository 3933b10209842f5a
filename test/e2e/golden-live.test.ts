/**
 * Every golden policy case (test/golden/*.expect.json), replayed against a real edge, real
 * agents and real upstreams. What the offline simulation predicts must be what a client sees:
 *   forwarded to URL U  → 200 from the upstream behind U (its replica is named after U's host)
 *   respond S / body B  → status S and body B
 *   error C             → the gateway's `meshgate-error-code: C`
 *   close               → the connection is dropped without an answer
 *   pass (agent)        → 200 from the agent endpoint's own upstream
 * plus `final` status and headers when the expectation gives them. Cases that need what a live
 * edge cannot fake here (another client IP or region, scripted http-request answers) are
 * skipped and counted. A scripted upstream body is sent by the demo upstream (x-demo-body);
 * http-request calls to `.internal` URLs in the policy reach demo upstreams like forward-internal
 * targets (answering 200).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRequestSpec } from '../../services/policy/index.js';
import { send, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { meshgate, stopAll, tempFiles } from '../helpers/procs.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/', import.meta.url));

interface Outcome {
  kind?: string;
  url?: string;
  status?: number;
  body?: string;
  code?: string;
}
interface Case {
  request: string;
  offline?: string[];
  upstream?: { status: number; headers?: Record<string, string[]>; body?: string };
  httpResponses?: Record<string, unknown>;
  clientIp?: string;
  region?: string;
  expect: {
    on_http_request?: { outcome?: Outcome };
    on_http_response?: { outcome?: Outcome };
    final?: { status?: number; headers?: Record<string, string[] | null>; body?: string };
    upstream_request?: { url?: string };
  };
}
interface Golden {
  description: string;
  endpoint?: { type: 'agent' | 'cloud'; url: string };
  /** The account's vaults (`secrets.get`), written into edge.yaml. */
  secrets?: Record<string, Record<string, string>>;
  cases?: Case[];
  issues?: unknown;
  issuesMatch?: unknown;
}

const files = readdirSync(GOLDEN_DIR).filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('.expect.json')).sort();
const upstreams = new Map<string, Promise<number>>();
/** One demo upstream per name, shared by the whole run. */
function upstream(name: string): Promise<number> {
  let p = upstreams.get(name);
  if (!p) upstreams.set(name, (p = startUpstream(name).then((u) => u.port)));
  return p;
}

function targetHost(url: string): string {
  return new URL(url).hostname;
}

/** Why a case cannot run live here, or null. */
function skipReason(c: Case): string | null {
  if (c.upstream?.headers?.['content-length']) return 'scripts a content-length that does not match the body';
  if (c.httpResponses) return 'scripts http-request answers';
  if (c.clientIp && c.clientIp !== '127.0.0.1') return `needs client IP ${c.clientIp}`;
  if (c.region && c.region !== 'eu') return `needs region ${c.region}`;
  const kind = c.expect.on_http_request?.outcome?.kind;
  if (!kind) return 'no request outcome to check';
  return null;
}

let skipped = 0;
let ran = 0;

describe('golden policies, live: real edge + agents + upstreams', function () {
  this.timeout(120_000);
  after(async () => {
    console.log(`      golden live: ${ran} cases run, ${skipped} skipped (need another client IP or region, or an impossible upstream)`);
    await stopAll();
  });

  for (const file of files) {
    const name = file.replace(/\.(ya?ml|json)$/, '');
    const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, `${name}.expect.json`), 'utf8')) as Golden;
    if (golden.issues || golden.issuesMatch || !golden.cases?.length) continue;
    const policy = readFileSync(join(GOLDEN_DIR, file), 'utf8');
    const epType = golden.endpoint?.type ?? 'cloud';
    const epUrl = golden.endpoint?.url ?? 'https://api.example.com';
    // tcp/tls goldens describe connections, not requests; test/e2e/l4-endpoints runs them live.
    if (/^(tcp|tls):/.test(epUrl)) continue;

    // Cases with the same offline targets share one edge and its agents.
    const groups = new Map<string, Case[]>();
    for (const c of golden.cases) {
      const key = (c.offline ?? []).slice().sort().join(',');
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }

    for (const [offlineKey, cases] of groups) {
      describe(`${file}${offlineKey ? ` (offline: ${offlineKey})` : ''}`, () => {
        let edge: EdgeHandle;
        before(async () => {
          const offline = new Set(offlineKey ? offlineKey.split(',') : []);
          const isOffline = (u: string) => offline.has(u) || offline.has(targetHost(u)) || offline.has(new URL(u).origin);
          const targets = new Set<string>();
          for (const c of cases) {
            const o = c.expect.on_http_request?.outcome;
            if (o?.kind === 'forwarded' && o.url && !isOffline(o.url)) targets.add(new URL(o.url).origin);
          }
          // Static targets in the policy too (e.g. a random split whose expectation names none).
          for (const m of policy.matchAll(/https?:\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)*\.internal(?::\d+)?/g)) if (!isOffline(m[0])) targets.add(new URL(m[0]).origin);
          // The policy is served on every origin the cases call (the golden's endpoint URL only
          // matters to the simulation, e.g. a wildcard policy called on several subdomains).
          const origins = new Set<string>();
          for (const c of cases) {
            const spec = parseRequestSpec(c.request);
            origins.add(spec.ok ? new URL(spec.spec.url).origin : epUrl);
          }
          const cloud = epType === 'cloud' ? `cloud_endpoints:\n${[...origins].map((o) => `  - account: acme\n    url: "${o}"\n    traffic_policy_file: policy.yml\n`).join('')}` : '';
          edge = await startEdge(
            `region: eu\nlisten: {http: "127.0.0.1:0", https: "127.0.0.1:0", tunnel: "127.0.0.1:0"}\naccounts: [{name: acme, authtokens: [tok_acme]${golden.secrets ? `, vaults: ${JSON.stringify(golden.secrets)}` : ''}}]\n${cloud}`,
            { 'policy.yml': policy },
            `edge-${name}`,
          );
          const endpoints: string[] = [];
          for (const t of targets) endpoints.push(`  - {url: "${t}", upstream: ${await upstream(targetHost(t))}}`);
          if (epType === 'agent') for (const o of origins) endpoints.push(`  - {url: "${o}", upstream: ${await upstream('self')}, traffic_policy_file: policy.yml}`);
          if (endpoints.length) {
            const dir = tempFiles({ 'agent.yml': `edge: ${edge.tunnel}\nauthtoken: tok_acme\nendpoints:\n${endpoints.join('\n')}\n`, 'policy.yml': policy });
            await meshgate(`agent-${name}`, ['agent', 'start', '--config', join(dir, 'agent.yml')]).ready();
          }
        });

        cases.forEach((c) => {
          const why = skipReason(c);
          it(`${c.request}${why ? ` [skipped: ${why}]` : ''}`, async () => {
            if (why) {
              skipped++;
              return;
            }
            ran++;
            const spec = parseRequestSpec(c.request);
            assert.ok(spec.ok);
            if (!spec.ok) return;
            const u = new URL(spec.spec.url);
            const headers: Record<string, string | string[]> = {};
            for (const [k, vs] of Object.entries(spec.spec.headers)) if (k !== 'host') headers[k] = vs.length === 1 ? vs[0] : vs;
            const head = spec.spec.method === 'HEAD';
            // A declared Content-Length is honoured with a body of that size.
            const declared = Number(spec.spec.headers['content-length']?.[0] ?? 0);
            const body = spec.spec.body !== undefined ? spec.spec.body : declared > 0 ? Buffer.alloc(declared, 'x') : undefined;
            // A scripted upstream answer: the demo upstream honours x-demo-status / x-demo-header.
            if (c.upstream) {
              headers['x-demo-status'] = String(c.upstream.status);
              const scripted = Object.entries(c.upstream.headers ?? {}).flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}`));
              if (scripted.length) headers['x-demo-header'] = scripted;
              if (c.upstream.body !== undefined) headers['x-demo-body'] = c.upstream.body;
            }
            const addr = u.protocol === 'https:' ? edge.https! : edge.http;
            const outcome = c.expect.on_http_request!.outcome!;
            const finalStatus = c.expect.final?.status;
            if (outcome.kind === 'close') {
              await assert.rejects(send(addr, u.host, u.pathname + u.search, { method: spec.spec.method, headers, scheme: u.protocol === 'https:' ? 'https' : 'http' }));
              return;
            }
            const r = await send(addr, u.host, u.pathname + u.search, { method: spec.spec.method, headers, body, scheme: u.protocol === 'https:' ? 'https' : 'http' });
            const respPhase = c.expect.on_http_response?.outcome;
            if (respPhase?.kind === 'respond') {
              if (respPhase.status !== undefined) assert.equal(r.status, respPhase.status, r.text);
              if (respPhase.body !== undefined) assert.equal(r.text, respPhase.body);
            } else if (outcome.kind === 'forwarded') {
              assert.equal(r.status, finalStatus ?? c.upstream?.status ?? 200, r.text);
              // The demo upstream names itself in a header too (bodies may be compressed).
              const replica = r.headers['x-replica'];
              const encoded = r.headers['content-encoding'] !== undefined;
              if (outcome.url) assert.equal(replica, targetHost(outcome.url));
              else assert.match(String(replica), /\.internal$/);
              // The upstream saw the request as the policy left it (url-rewrite and the like).
              const want = c.expect.upstream_request?.url;
              if (want && !head && !encoded) {
                const w = new URL(want);
                assert.equal(r.json().path, w.pathname);
                assert.deepEqual(r.json().query, Object.fromEntries(w.searchParams));
              }
            } else if (outcome.kind === 'pass') {
              assert.equal(r.status, finalStatus ?? c.upstream?.status ?? 200, r.text);
              assert.equal(r.headers['x-replica'], 'self');
              // a scripted upstream body, as on_http_response left it (response-body-find-replace)
              if (c.upstream?.body !== undefined && c.expect.final?.body !== undefined) assert.equal(r.text, c.expect.final.body);
            } else if (outcome.kind === 'respond') {
              assert.equal(r.status, finalStatus ?? outcome.status ?? 200, r.text);
              if (outcome.body !== undefined) assert.equal(r.text, outcome.body);
            } else if (outcome.kind === 'error') {
              assert.equal(r.headers['meshgate-error-code'], outcome.code, `${r.status} ${r.text}`);
            }
            for (const [k, want] of Object.entries(c.expect.final?.headers ?? {})) {
              const got = r.headers[k.toLowerCase()];
              if (want === null) {
                assert.equal(got, undefined, `header ${k} should be absent`);
                continue;
              }
              const list = got === undefined ? [] : Array.isArray(got) ? got : String(got).split(/,\s*/);
              for (const w of want) assert.ok(list.includes(w) || String(got).includes(w), `header ${k}: want ${w}, got ${String(got)}`);
            }
          });
        });
      });
    }
  }
});
