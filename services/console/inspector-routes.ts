/**
 * The Traffic Inspector on the console listener: the page (`/inspect`, static HTML + vanilla JS
 * + CSS from services/console/page/, no build step) and its JSON API, which is the proto3 JSON
 * form of the InspectorService messages (camelCase fields, bytes as base64):
 *
 *   GET  /api/inspect/whoami                  → {account, admin, nodeId, region}
 *   GET  /api/inspect/endpoints               → {endpoints: [{account, url, online}]}
 *   GET  /api/inspect/captures?endpoint=&pathPrefix=&method=&status=&startedAfter=&startedBefore=&pageSize=&pageToken=&localOnly=
 *                                             → ListCapturesResponse
 *   GET  /api/inspect/captures/ID             → Capture (with headers and bodies)
 *   POST /api/inspect/captures/ID/replay      ← ReplayRequest (without id) → ReplayResult
 *   GET  /api/inspect/settings?endpoint=      → CaptureSettings
 *   PUT  /api/inspect/settings                ← UpdateCaptureSettingsRequest → CaptureSettings
 *
 * Authentication is the admin API's (admin-context.ts): `Authorization: Bearer <api key>`
 * (and `meshgate-account` for the bootstrap admin key), so an account's key sees only its own
 * account. The page keeps the key in sessionStorage and sends it as that header; no cookie is
 * used, so other sites cannot make a browser call this API. Errors: the catalog's HTTP status
 * and `{"error": {"code", "message", "field"}}`.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { ERRORS, isMeshgateError, MeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { accountOf, authenticate, type AdminContext, type Caller } from '../admin/admin-context.js';
import { scopeOf } from '../admin/inspector-service.js';
import { CaptureSettings, Capture, ListCapturesResponse, ReplayRequest, ReplayResult, UpdateCaptureSettingsRequest } from '../gen/admin.js';
import type { Inspector } from '../inspector/inspector.js';
import { json, type ConsoleServer } from './console-server.js';

/** Largest JSON body accepted (a replay with a new body). */
const MAX_JSON_BYTES = 4 << 20;

const PAGE_FILES = { 'inspector.html': 'text/html; charset=utf-8', 'inspector.js': 'text/javascript; charset=utf-8', 'inspector.css': 'text/css; charset=utf-8' } as const;
type PageFile = keyof typeof PAGE_FILES;

/**
 * The page's files: next to this module (when a build copies them) or in the source tree
 * (`dist/services/console/` → `services/console/page/`). Read once, at start.
 */
function loadPage(log: Logger): Map<PageFile, Buffer> {
  const dirs = [new URL('./page/', import.meta.url), new URL('../../../services/console/page/', import.meta.url)];
  for (const dir of dirs) {
    try {
      const files = new Map<PageFile, Buffer>();
      for (const name of Object.keys(PAGE_FILES) as PageFile[]) files.set(name, readFileSync(new URL(name, dir)));
      return files;
    } catch {
      // try the next place
    }
  }
  log.error('inspector page files not found; /inspect answers 503', { looked: dirs.map((d) => fileURLToPath(d)) });
  return new Map();
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function inspectorRoutes(con: ConsoleServer, inspector: Inspector, auth: Pick<AdminContext, 'adminApiKey' | 'store' | 'live'>, log: Logger): void {
  const page = loadPage(log);
  const serveFile = (name: PageFile) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = page.get(name);
    if (body === undefined) return json(res, 503, { error: { code: 'MG_INTERNAL', message: 'the inspector page files are missing from this installation' } });
    res.writeHead(200, { 'content-type': PAGE_FILES[name], 'content-length': body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(body);
  };
  con.route('GET', '/', (_req, res) => {
    res.writeHead(302, { location: '/inspect', 'content-length': 0 });
    res.end();
  });
  con.route('GET', '/favicon.ico', (_req, res) => {
    res.writeHead(204, { 'cache-control': 'max-age=86400' });
    res.end();
  });
  con.route('GET', '/inspect', serveFile('inspector.html'));
  con.route('GET', '/inspect/inspector.js', serveFile('inspector.js'));
  con.route('GET', '/inspect/inspector.css', serveFile('inspector.css'));

  /** Runs an API handler: authenticate, answer JSON, map errors. */
  const api =
    (fn: (caller: Caller, url: URL, req: http.IncomingMessage) => Promise<unknown> | unknown) =>
    async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
      try {
        const md = new grpc.Metadata();
        for (const h of ['authorization', 'meshgate-account'] as const) {
          const v = req.headers[h];
          if (typeof v === 'string' && v) md.set(h, v);
        }
        const caller = authenticate(auth, md);
        json(res, 200, await fn(caller, url, req));
      } catch (e) {
        const err = isMeshgateError(e) ? e : new MeshgateError('MG_INTERNAL', { detail: (e as Error).message });
        if (err.code === 'MG_INTERNAL') log.error('inspector API failed', { path: url.pathname, err: e as Error });
        json(res, ERRORS[err.code].http, { error: { code: err.code, message: err.message, field: err.field ?? '' } });
      }
    };

  con.route(
    'GET',
    '/api/inspect/whoami',
    api((caller) => ({ account: caller.account, admin: caller.admin, nodeId: inspector.nodeId, region: inspector.region })),
  );
  con.route(
    'GET',
    '/api/inspect/endpoints',
    api((caller) => ({ endpoints: inspector.endpointUrls(scopeOf(caller).account) })),
  );
  con.route(
    'GET',
    '/api/inspect/captures',
    api(async (caller, url) => {
      const q = url.searchParams;
      const size = q.get('pageSize') ?? '';
      if (size && !/^\d{1,4}$/.test(size)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'page_size', detail: `'${size}' is not a number` });
      const res = await inspector.list(scopeOf(caller), {
        endpoint: q.get('endpoint') ?? '',
        pathPrefix: q.get('pathPrefix') ?? '',
        method: q.get('method') ?? '',
        status: q.get('status') ?? '',
        startedAfter: q.get('startedAfter') ?? '',
        startedBefore: q.get('startedBefore') ?? '',
        pageSize: Number(size || 0),
        pageToken: q.get('pageToken') ?? '',
        localOnly: q.get('localOnly') === 'true',
      });
      return ListCapturesResponse.toJSON(res);
    }),
  );
  const ID = /^\/api\/inspect\/captures\/([A-Za-z0-9_-]{1,64})$/;
  con.route(
    'GET',
    ID,
    api(async (caller, url) => Capture.toJSON(await inspector.get(scopeOf(caller), ID.exec(url.pathname)![1]))),
  );
  const REPLAY = /^\/api\/inspect\/captures\/([A-Za-z0-9_-]{1,64})\/replay$/;
  con.route(
    'POST',
    REPLAY,
    api(async (caller, url, req) => {
      const body = await readJson(req);
      let r: ReplayRequest;
      try {
        r = ReplayRequest.fromJSON(body);
      } catch (e) {
        throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'body', detail: `not a ReplayRequest: ${(e as Error).message}` });
      }
      r.id = REPLAY.exec(url.pathname)![1];
      return ReplayResult.toJSON(await inspector.replay(scopeOf(caller), r));
    }),
  );
  con.route(
    'GET',
    '/api/inspect/settings',
    api((caller, url) => CaptureSettings.toJSON(inspector.getSettings(accountOf(caller), url.searchParams.get('endpoint') ?? ''))),
  );
  con.route(
    'PUT',
    '/api/inspect/settings',
    api(async (caller, _url, req) => CaptureSettings.toJSON(await inspector.updateSettings(accountOf(caller), UpdateCaptureSettingsRequest.fromJSON(await readJson(req))))),
  );
}

/** The request's JSON body (an object), at most MAX_JSON_BYTES. */
function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_JSON_BYTES) {
        reject(new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'body', detail: `is larger than ${MAX_JSON_BYTES} bytes` }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve({});
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
        resolve(v as Record<string, unknown>);
      } catch (e) {
        reject(new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'body', detail: `is not a JSON object: ${(e as Error).message}` }));
      }
    });
    req.once('error', (e) => reject(e));
  });
}
