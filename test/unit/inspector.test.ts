/**
 * The Traffic Inspector's pure parts: the capture store (rings per endpoint, the memory budget,
 * filters and page cursors), the body tee (bounded copy, aborts crossing both ways), and the
 * list filter's validation.
 */
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { once } from 'node:events';
import { BodyCopy, teeBody } from '../../services/inspector/body-tee.js';
import { CaptureStore, type CapturedRequest } from '../../services/inspector/capture-store.js';
import { encodeCursor, queryOf, statusRange } from '../../services/inspector/capture-message.js';
import { timeFlag } from '../../services/cli/commands/inspect.js';
import { parseEdgeConfig } from '../../services/edge/config.js';
import type { RequestRecord } from '../../services/edge/observe/request-record.js';
import type { ListCapturesRequest } from '../../services/gen/admin.js';

let seq = 0;
function captured(o: { account?: string; url?: string; path?: string; status?: number; t?: number; full?: number; method?: string; entryId?: string }): CapturedRequest {
  const id = `req_${String(++seq).padStart(5, '0')}`;
  const url = o.url ?? 'https://a.example.com';
  const rec: RequestRecord = {
    id,
    startedAt: o.t ?? 1_000_000 + seq,
    durationMs: 1,
    method: o.method ?? 'GET',
    scheme: 'https',
    host: 'a.example.com',
    path: o.path ?? '/',
    query: '',
    status: o.status ?? 200,
    errorCode: '',
    region: 'eu',
    clientIp: '127.0.0.1',
    entry: { id: o.entryId ?? 'ep_1', url, type: 'agent', region: 'eu', nodeId: 'eu-1' },
    served: undefined,
    logs: [],
    decisions: [],
    traceId: '',
  };
  const full =
    o.full === undefined
      ? undefined
      : { maxBodyBytes: o.full, reqHeaders: [], reqHeadersTruncated: false, reqBody: null, resHeaders: [], resHeadersTruncated: false, resBody: null, bytes: o.full };
  return { rec, account: o.account ?? 'acme', url, hostHeader: 'a.example.com', replayOf: '', full, dropped: false };
}

const filter = (f: Partial<ListCapturesRequest>): ListCapturesRequest => ({ endpoint: '', pathPrefix: '', method: '', status: '', startedAfter: '', startedBefore: '', pageSize: 0, pageToken: '', localOnly: false, ...f });

describe('inspector capture store', () => {
  it('keeps the newest records per endpoint ring, so a busy endpoint never pushes out another', () => {
    const s = new CaptureStore(3, 1 << 20);
    const quiet = captured({ url: 'https://quiet.example.com' });
    s.add(quiet);
    const busy = Array.from({ length: 10 }, () => captured({ url: 'https://busy.example.com' }));
    busy.forEach((c) => s.add(c));
    assert.equal(s.size, 4);
    assert.ok(s.get(quiet.rec.id), 'the quiet endpoint keeps its request');
    assert.equal(s.get(busy[0].rec.id), undefined, 'the oldest busy requests are forgotten');
    assert.deepEqual(
      s.query({ limit: 10 }).map((c) => c.rec.id),
      [busy[9], busy[8], busy[7], quiet].map((c) => c.rec.id),
    );
  });

  it('drops the oldest full captures to metadata past max_capture_bytes, and releases bytes of forgotten ones', () => {
    const s = new CaptureStore(2, 1000);
    const a = captured({ full: 400 });
    const b = captured({ full: 400 });
    const c = captured({ full: 400 });
    s.add(a);
    s.add(b);
    assert.equal(s.fullBytes, 800);
    s.add(c); // ring of 2 forgets a (releasing its 400), then 800 fits
    assert.equal(s.get(a.rec.id), undefined);
    assert.equal(s.fullBytes, 800);
    const big = captured({ url: 'https://other.example.com', full: 700 });
    s.add(big); // 1500 > 1000: b, then c dropped to metadata
    assert.equal(b.full, undefined);
    assert.equal(b.dropped, true);
    assert.equal(c.dropped, true);
    assert.ok(big.full);
    assert.equal(s.fullBytes, 700);
    // many captures later the queue of the budget stays small (compacted), bytes stay bounded
    for (let i = 0; i < 5000; i++) s.add(captured({ url: `https://u${i % 7}.example.com`, full: 50 }));
    assert.ok(s.fullBytes <= 1000);
  });

  it('filters by account, endpoint id or URL, path prefix, method, status range and time, and pages by cursor', () => {
    const s = new CaptureStore(100, 1 << 20);
    const t0 = 2_000_000;
    const recs = [
      captured({ path: '/a/1', status: 200, t: t0 + 1 }),
      captured({ path: '/a/2', status: 404, t: t0 + 2, method: 'POST' }),
      captured({ path: '/b/1', status: 503, t: t0 + 3, url: 'https://b.example.com', entryId: 'ep_2' }),
      captured({ path: '/a/3', status: 201, t: t0 + 4, account: 'globex' }),
    ];
    recs.forEach((c) => s.add(c));
    const ids = (f: Partial<ListCapturesRequest>, account: string | null = 'acme') => s.query(queryOf(filter(f), account ?? undefined)).map((c) => c.rec.path);
    assert.deepEqual(ids({}), ['/b/1', '/a/2', '/a/1']);
    assert.deepEqual(ids({}, null), ['/a/3', '/b/1', '/a/2', '/a/1'], 'every account (bootstrap admin key)');
    assert.deepEqual(ids({ endpoint: 'https://b.example.com' }), ['/b/1']);
    assert.deepEqual(ids({ endpoint: 'ep_1' }), ['/a/2', '/a/1']);
    assert.deepEqual(ids({ pathPrefix: '/a/' }), ['/a/2', '/a/1']);
    assert.deepEqual(ids({ method: 'post' }), ['/a/2']);
    assert.deepEqual(ids({ status: '4xx' }), ['/a/2']);
    assert.deepEqual(ids({ status: '400-599' }), ['/b/1', '/a/2']);
    assert.deepEqual(ids({ status: '200' }), ['/a/1']);
    assert.deepEqual(ids({ startedAfter: new Date(t0 + 2).toISOString(), startedBefore: new Date(t0 + 3).toISOString() }), ['/a/2']);
    const newest = recs[2];
    assert.deepEqual(ids({ pageToken: encodeCursor({ startedAt: new Date(newest.rec.startedAt).toISOString(), id: newest.rec.id }) }), ['/a/2', '/a/1']);
  });

  it('refuses a bad filter naming the field', () => {
    const field = (f: Partial<ListCapturesRequest>) => {
      try {
        queryOf(filter(f), 'acme');
      } catch (e) {
        return (e as { code: string; field: string }).code + ' ' + (e as { field: string }).field;
      }
      return 'accepted';
    };
    assert.equal(field({ status: '6xx' }), 'MG_ADMIN_REQUEST_INVALID status');
    assert.equal(field({ status: '500-400' }), 'MG_ADMIN_REQUEST_INVALID status');
    assert.equal(field({ pathPrefix: 'a/' }), 'MG_ADMIN_REQUEST_INVALID path_prefix');
    assert.equal(field({ startedAfter: 'yesterday' }), 'MG_ADMIN_REQUEST_INVALID started_after');
    assert.equal(field({ pageToken: 'nope' }), 'MG_ADMIN_REQUEST_INVALID page_token');
    assert.equal(field({ pageSize: 1001 }), 'MG_ADMIN_REQUEST_INVALID page_size');
    assert.deepEqual(statusRange('5xx'), [500, 599]);
  });

  it('reads --since as a duration before now or an RFC 3339 time', () => {
    const now = Date.parse('2025-01-31T12:00:00Z');
    assert.equal(timeFlag('since', '15m', now), '2025-01-31T11:45:00.000Z');
    assert.equal(timeFlag('since', '2025-01-01T00:00:00Z', now), '2025-01-01T00:00:00Z');
    assert.equal(timeFlag('since', undefined, now), '');
    assert.throws(() => timeFlag('since', 'soon', now), /--since/);
  });
});

describe('inspector body tee', () => {
  it('passes every byte through and keeps only the first `limit`, copied out of the chunks', async () => {
    const chunks = [Buffer.alloc(7000, 1), Buffer.alloc(7000, 2), Buffer.alloc(7000, 3)];
    const copy = new BodyCopy(10_240);
    const tee = teeBody(Readable.from(chunks), copy);
    const out: Buffer[] = [];
    for await (const c of tee) out.push(c as Buffer);
    assert.equal(Buffer.concat(out).length, 21_000);
    assert.equal(copy.kept, 10_240);
    assert.equal(copy.size, 21_000);
    assert.ok(copy.truncated && copy.ended);
    const kept = copy.bytes();
    assert.equal(kept.length, 10_240);
    assert.equal(kept[6999], 1);
    assert.equal(kept[7000], 2);
    assert.notEqual(kept.buffer, chunks[0].buffer, 'not a view of the first chunk');
  });

  it('shows a source that closed early as a body that did not end, and cancels the source when the tee is destroyed', async () => {
    const src = new PassThrough();
    const copy = new BodyCopy(100);
    const tee = teeBody(src, copy);
    tee.resume();
    src.write('abc');
    src.destroy();
    await once(tee, 'close');
    assert.equal(tee.readableEnded, false);
    assert.equal(copy.ended, false);

    const src2 = new PassThrough();
    const tee2 = teeBody(src2, new BodyCopy(100));
    tee2.destroy();
    await once(src2, 'close');
    assert.ok(src2.destroyed);
  });
});

describe('inspector settings in edge.yaml', () => {
  const base = 'region: eu\nlisten: {http: "127.0.0.1:8080", tunnel: ":4443"MORE}\n';
  const parse = (listenMore: string, rest = '') => parseEdgeConfig(base.replace('MORE', listenMore) + rest, '/tmp');

  it('turns the inspector on by default only with listen.admin or listen.console', () => {
    assert.equal(parse('').inspector.enabled, false, 'no admin API, no console: nothing to show captures with');
    assert.equal(parse(', console: "127.0.0.1:9090"').inspector.enabled, true);
    const c = parse(', admin: "127.0.0.1:7000"', 'inspector: {enabled: false}\n');
    assert.equal(c.inspector.enabled, false);
    assert.deepEqual(parse(', admin: ":7000"').inspector, { enabled: true, recordsPerEndpoint: 500, maxCaptureBytes: 64 << 20 });
  });

  it('reads accounts[].inspect, and reports bad values with their path', () => {
    const c = parse('', 'accounts:\n  - {name: acme, inspect: {full: true, max_body_bytes: 2048}}\n  - {name: globex}\n');
    assert.deepEqual(c.accounts[0].inspect, { full: true, maxBodyBytes: 2048 });
    assert.equal(c.accounts[1].inspect, undefined);
    assert.throws(
      () => parse('', 'inspector: {records_per_endpoint: 0, max_capture_bytes: "lots", extra: 1}\naccounts:\n  - {name: acme, inspect: {full: yes, max_body_bytes: 2000000}}\n'),
      (e: Error & { issues: Array<{ path: string }> }) => {
        assert.deepEqual(e.issues.map((i) => i.path).sort(), [
          'accounts[0].inspect.full',
          'accounts[0].inspect.max_body_bytes',
          'inspector.extra',
          'inspector.max_capture_bytes',
          'inspector.records_per_endpoint',
        ]);
        return true;
      },
    );
  });
});
