/**
 * response-body-find-replace: config rejections with their paths, the BodyRewrite the action
 * hands the edge (decoding, content-length, interplay with compress-response), and the edge's
 * buffering step (limit, decoding, chunked and string bodies).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { rewriteResponseBody } from '../../services/edge/forward/response-body.js';
import type { GatewayResponse } from '../../services/edge/forward/gateway-response.js';
import { decodingsOf } from '../../services/policy/actions/response-body-find-replace.js';
import type { BodyRewrite, HeaderMap, PolicyResponse } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, issueAt, issuesOf } from './policy-fixtures.js';

const P = 'on_http_response[0].actions[0].config';

function policy(cfg: string, extra = ''): string {
  return `on_http_response:\n  - actions:\n      - {type: response-body-find-replace, config: ${cfg}}\n${extra}`;
}

async function respond(src: string, headers: HeaderMap = {}, opts: { status?: number; method?: string; acceptEncoding?: string } = {}) {
  const res: PolicyResponse = { status: opts.status ?? 200, headers: { 'content-length': ['10'], ...headers } };
  const x = exchange('https://api.example.com/page', { method: opts.method, headers: opts.acceptEncoding ? { 'accept-encoding': opts.acceptEncoding } : {} });
  const out = await compileOk(src, AGENT).runResponse(x, endpoint('agent'), res);
  return { out, res };
}

const apply = (rw: BodyRewrite | undefined, s: string) => rw!.apply(Buffer.from(s)).toString();

describe('action response-body-find-replace', () => {
  it('refuses bad replacements, max_body_size and the request phase, with paths', () => {
    const issues = (cfg: string) => issuesOf(policy(cfg), AGENT);
    assert.match(issueAt(issues('{}'), `${P}.replacements`).message, /is required/);
    assert.match(issueAt(issues('{replacements: []}'), `${P}.replacements`).message, /1 to 10/);
    assert.match(issueAt(issues('{replacements: [{from: "(a", to: b}]}'), `${P}.replacements[0].from`).message, /invalid regular expression/);
    assert.match(issueAt(issues('{replacements: [{from: "(?=a)", to: b}]}'), `${P}.replacements[0].from`).message, /RE2/);
    assert.match(issueAt(issues('{replacements: [{from: a, to: 5}]}'), `${P}.replacements[0].to`).message, /must be a string/);
    assert.match(issueAt(issues('{replacements: [{from: a, with: b}]}'), `${P}.replacements[0].with`).message, /unknown field/);
    assert.match(issueAt(issues('{replacements: [{from: a}], max_body_size: 0}'), `${P}.max_body_size`).message, /between 1 and 16777216/);
    assert.match(issueAt(issues('{replacements: [{from: "${res.nope}"}]}'), `${P}.replacements[0].from`).message, /unknown field 'nope'/);
    const wrongPhase = issuesOf('on_http_request:\n  - actions: [{type: response-body-find-replace, config: {replacements: [{from: a}]}}]\n', AGENT);
    assert.match(issueAt(wrongPhase, 'on_http_request[0].actions[0].type').message, /cannot be used in on_http_request/);
  });

  it('hands the edge a rewrite (every match, groups, CEL in from/to) and drops content-length', async () => {
    const src = policy(`{replacements: [{from: "error_code: ([0-9]+)", to: "error_code: HIDDEN"}, {from: "\${req.url.path}", to: "[\${res.status_code}] $$"}]}`);
    const { out, res } = await respond(src);
    assert.equal(out.kind, 'pass');
    assert.equal(res.headers['content-length'], undefined);
    assert.deepEqual(res.rewrite?.decode, []);
    assert.equal(res.rewrite?.limit, 1024 * 1024);
    assert.equal(apply(res.rewrite, 'error_code: 42 at /page; error_code: 7'), 'error_code: HIDDEN at [200] $; error_code: HIDDEN');
    assert.equal(apply(res.rewrite, 'nothing'), 'nothing');
  });

  it('asks the edge to decode gzip/deflate/br bodies and to encode the result again the same way', async () => {
    const { res } = await respond(policy('{replacements: [{from: a, to: b}], max_body_size: 4096}'), { 'content-encoding': ['x-gzip'] });
    assert.deepEqual(res.rewrite?.decode, ['gzip']);
    assert.equal(res.rewrite?.limit, 4096);
    assert.equal(res.encode, 'gzip');
    assert.deepEqual(res.headers['content-encoding'], ['gzip']);
    const stacked = await respond(policy('{replacements: [{from: a, to: b}]}'), { 'content-encoding': ['gzip, br'] });
    assert.deepEqual(stacked.res.rewrite?.decode, ['gzip', 'br']);
    assert.equal(stacked.res.encode, undefined, 'a stack of codings goes out uncompressed');
    assert.equal(stacked.res.headers['content-encoding'], undefined);
    assert.deepEqual(decodingsOf(['deflate, x-gzip', 'br']), ['deflate', 'gzip', 'br']);
    assert.deepEqual(decodingsOf(['identity']), []);
    assert.equal(decodingsOf(['gzip, zstd']), 'zstd');
  });

  it('answers 502 MG_RESPONSE_BODY_UNREADABLE for an encoding it cannot decode', async () => {
    const { out } = await respond(policy('{replacements: [{from: a, to: b}]}'), { 'content-encoding': ['zstd'] });
    assert.equal(out.kind === 'error' && out.code, 'MG_RESPONSE_BODY_UNREADABLE');
  });

  it('leaves responses without a body alone (HEAD, 204, 304)', async () => {
    const src = policy('{replacements: [{from: a, to: b}]}');
    assert.equal((await respond(src, {}, { method: 'HEAD' })).res.rewrite, undefined);
    assert.equal((await respond(src, {}, { status: 204 })).res.rewrite, undefined);
    assert.equal((await respond(src, {}, { status: 304 })).res.rewrite, undefined);
  });

  it('replaces first, then compresses, whichever of the two actions comes first', async () => {
    const after = policy('{replacements: [{from: a, to: b}]}', '      - {type: compress-response}\n');
    const r1 = await respond(after, {}, { acceptEncoding: 'br' });
    assert.deepEqual(r1.res.rewrite?.decode, []);
    assert.equal(r1.res.encode, 'br');
    assert.deepEqual(r1.res.headers['content-encoding'], ['br']);
    const r1z = await respond(after, { 'content-encoding': ['gzip'] }, { acceptEncoding: 'br' });
    assert.deepEqual(r1z.res.rewrite?.decode, ['gzip']);
    assert.equal(r1z.res.encode, 'gzip', 'an encoded upstream body keeps its coding');
    const before = `on_http_response:\n  - actions:\n      - {type: compress-response}\n      - {type: response-body-find-replace, config: {replacements: [{from: a, to: b}]}}\n`;
    const r2 = await respond(before, {}, { acceptEncoding: 'gzip' });
    assert.equal(r2.res.encode, 'gzip');
    assert.deepEqual(r2.res.rewrite?.decode, [], 'the encoding compress-response set is not the upstream body');
    assert.deepEqual(r2.res.headers['content-encoding'], ['gzip']);
  });

  it('chains several actions in order, buffering up to the largest limit', async () => {
    const src = `on_http_response:
  - actions:
      - {type: response-body-find-replace, config: {replacements: [{from: cat, to: dog}], max_body_size: 100}}
  - actions:
      - {type: response-body-find-replace, config: {replacements: [{from: dog, to: wolf}], max_body_size: 50}}
`;
    const { res } = await respond(src, { 'content-encoding': ['br'] });
    assert.equal(apply(res.rewrite, 'cat'), 'wolf');
    assert.equal(res.rewrite?.limit, 100);
    assert.deepEqual(res.rewrite?.decode, ['br']);
  });
});

describe('edge: response body rewrite', () => {
  const upper: BodyRewrite = { limit: 64, decode: [], apply: (b) => Buffer.from(b.toString().toUpperCase()) };
  const streamed = (chunks: (string | Buffer)[]): GatewayResponse => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: Readable.from(chunks.map((c) => Buffer.from(c))) });
  const text = async (r: GatewayResponse) => {
    const parts: Buffer[] = [];
    for await (const c of r.body as Readable) parts.push(Buffer.from(c));
    return Buffer.concat(parts).toString();
  };

  it('buffers a streamed (chunked) body, rewrites it and sets its exact content-length', async () => {
    const r = streamed(['hello ', 'wörld']);
    assert.equal(await rewriteResponseBody(r, upper, false), null);
    assert.equal(r.headers['content-length'], Buffer.byteLength('HELLO WÖRLD'));
    assert.equal(await text(r), 'HELLO WÖRLD');
  });

  it('leaves content-length out when compress-response streams the result', async () => {
    const r = streamed(['abc']);
    await rewriteResponseBody(r, upper, true);
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(await text(r), 'ABC');
  });

  it('rewrites string bodies (responses the gateway made) too', async () => {
    const r: GatewayResponse = { status: 200, headers: {}, body: 'made here' };
    await rewriteResponseBody(r, upper, false);
    assert.equal(await text(r), 'MADE HERE');
  });

  it('decodes gzip, deflate (zlib or raw) and br before rewriting', async () => {
    for (const [coding, enc] of [['gzip', zlib.gzipSync], ['deflate', zlib.deflateSync], ['deflate', zlib.deflateRawSync], ['br', zlib.brotliCompressSync]] as const) {
      const r: GatewayResponse = { status: 200, headers: {}, body: Readable.from([enc(Buffer.from('packed'))]) };
      assert.equal(await rewriteResponseBody(r, { ...upper, decode: [coding] }, false), null, coding);
      assert.equal(await text(r), 'PACKED');
    }
  });

  it('answers 502 MG_RESPONSE_BODY_TOO_LARGE past the limit (raw or decoded) and destroys the upstream body', async () => {
    const body = Readable.from([Buffer.alloc(40, 'a'), Buffer.alloc(40, 'b')]);
    const r: GatewayResponse = { status: 200, headers: {}, body };
    const failed = await rewriteResponseBody(r, upper, false);
    assert.equal(failed?.status, 502);
    assert.equal(failed?.errorCode, 'MG_RESPONSE_BODY_TOO_LARGE');
    assert.ok(body.destroyed);
    const bomb: GatewayResponse = { status: 200, headers: {}, body: Readable.from([zlib.gzipSync(Buffer.alloc(10_000, 'x'))]) };
    assert.equal((await rewriteResponseBody(bomb, { ...upper, decode: ['gzip'] }, false))?.errorCode, 'MG_RESPONSE_BODY_TOO_LARGE');
  });

  it('answers 502 MG_RESPONSE_BODY_UNREADABLE for a corrupt encoded body or a body that breaks off', async () => {
    const corrupt: GatewayResponse = { status: 200, headers: {}, body: Readable.from([Buffer.from('not gzip at all')]) };
    assert.equal((await rewriteResponseBody(corrupt, { ...upper, decode: ['gzip'] }, false))?.errorCode, 'MG_RESPONSE_BODY_UNREADABLE');
    const broken = new Readable({ read() {} });
    broken.push(Buffer.from('part'));
    setImmediate(() => broken.destroy(new Error('reset')));
    const r: GatewayResponse = { status: 200, headers: {}, body: broken };
    const failed = await rewriteResponseBody(r, upper, false);
    assert.equal(failed?.errorCode, 'MG_RESPONSE_BODY_UNREADABLE');
    assert.match(String(failed?.body), /reset/);
  });
});
