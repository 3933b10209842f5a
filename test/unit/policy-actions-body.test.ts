import assert from 'node:assert/strict';
import '../../services/policy/actions/request-body-find-replace.js';
import type { Exchange, RequestOutcome } from '../../services/policy/index.js';
import { parseRequestSpec, simulateRequest } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';

const P = 'on_http_request[0].actions[0].config';

function policy(cfg: string): string {
  return `on_http_request:\n  - actions: [{type: request-body-find-replace, config: ${cfg}}]\n`;
}

async function run(src: string, body: string | Buffer | undefined, headers: Record<string, string> = {}): Promise<{ out: RequestOutcome<string>; x: Exchange }> {
  const x = exchange('https://api.example.com/submit', { method: 'POST', headers });
  if (body !== undefined) {
    x.req.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    x.req.headers['content-length'] = [String(x.req.body.length)];
  }
  const out = await compileOk(src, AGENT).runRequest(x, endpoint('agent'), new FakeHost());
  return { out, x };
}

describe('action request-body-find-replace', () => {
  it('replaces every match, sets req.body and updates content-length', async () => {
    const { out, x } = await run(policy('{replacements: [{from: "secret-\\\\d+", to: "[redacted]"}]}'), 'a=secret-1&b=secret-22&c=ok');
    assert.equal(out.kind, 'pass');
    assert.equal(x.req.body?.toString('utf8'), 'a=[redacted]&b=[redacted]&c=ok');
    assert.deepEqual(x.req.headers['content-length'], [String(Buffer.byteLength('a=[redacted]&b=[redacted]&c=ok'))]);
  });

  it('applies several replacements in order, with groups and CEL in to', async () => {
    const src = `on_http_request:
  - actions:
      - type: request-body-find-replace
        config:
          replacements:
            - {from: '"env":\\s*"(\\w+)"', to: '"env":"$1-\${req.method}"'}
            - {from: "POST", to: "post"}
            - {from: "(?<k>name)", to: "$<k>s"}
`;
    const { x } = await run(src, '{"env": "dev", "name": "é"}');
    assert.equal(x.req.body?.toString('utf8'), '{"env":"dev-post", "names": "é"}');
    assert.deepEqual(x.req.headers['content-length'], [String(Buffer.byteLength('{"env":"dev-post", "names": "é"}'))]);
  });

  it('leaves the body and content-length alone when nothing matches or there is no body', async () => {
    const src = policy('{replacements: [{from: "zzz", to: "y"}]}');
    const { x } = await run(src, 'abc');
    assert.equal(x.req.body?.toString(), 'abc');
    const none = await run(src, undefined);
    assert.equal(none.x.req.body, undefined);
    assert.equal(none.x.req.headers['content-length'], undefined);
  });

  it('processes non-UTF-8 bodies byte for byte, keeping unmatched bytes', async () => {
    const bin = Buffer.from([0xff, 0x00, 0x41, 0x42, 0xfe]);
    const { x } = await run(policy('{replacements: [{from: "AB", to: "xyz"}]}'), bin);
    assert.deepEqual([...x.req.body!], [0xff, 0x00, 0x78, 0x79, 0x7a, 0xfe]);
    assert.deepEqual(x.req.headers['content-length'], ['6']);
  });

  it('asks for max_body_size (default 1 MiB) as the request body limit', () => {
    assert.equal(compileOk(policy('{replacements: [{from: a, to: b}]}'), AGENT).requestBodyLimit, 1024 * 1024);
    assert.equal(compileOk(policy('{replacements: [{from: a, to: b}], max_body_size: 4096}'), AGENT).requestBodyLimit, 4096);
  });

  it('fails the request on a bad runtime pattern', async () => {
    const src = `on_http_request:
  - actions:
      - {type: set-vars, config: {vars: [{p: "(a"}]}}
      - {type: request-body-find-replace, config: {replacements: [{from: "\${vars.p}", to: x}]}}
`;
    const { out } = await run(src, 'aaa');
    assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
  });

  it('refuses bad regexes (invalid and non-RE2), bad lists and bad max_body_size, with paths', () => {
    const issues = (cfg: string) => issuesOf(policy(cfg), AGENT);
    assert.match(issueAt(issues('{replacements: [{from: "(a", to: b}]}'), `${P}.replacements[0].from`).message, /invalid regular expression/);
    assert.match(issueAt(issues('{replacements: [{from: "(a)\\\\1", to: b}]}'), `${P}.replacements[0].from`).message, /backreference.*RE2/);
    assert.match(issueAt(issues('{replacements: [{from: "(?=a)", to: b}]}'), `${P}.replacements[0].from`).message, /RE2/);
    assert.match(issueAt(issues('{}'), `${P}.replacements`).message, /is required/);
    assert.match(issueAt(issues('{replacements: []}'), `${P}.replacements`).message, /1 to 10/);
    assert.match(issueAt(issues(`{replacements: [${Array(11).fill('{from: a}').join(',')}]}`), `${P}.replacements`).message, /got 11/);
    assert.equal(issueAt(issues('{replacements: [{to: b}]}'), `${P}.replacements[0].from`).message, 'is required');
    assert.match(issueAt(issues('{replacements: [{from: a, too: b}]}'), `${P}.replacements[0].too`).message, /unknown field/);
    assert.match(issueAt(issues('{replacements: [{from: a, to: 5}]}'), `${P}.replacements[0].to`).message, /must be a string/);
    assert.match(issueAt(issues('{replacements: [a]}'), `${P}.replacements[0]`).message, /must be a map/);
    assert.match(issueAt(issues('{replacements: [{from: a}], max_body_size: 0}'), `${P}.max_body_size`).message, /between 1 and 16777216/);
    assert.match(issueAt(issues('{replacements: [{from: a}], max_body_size: 16777217}'), `${P}.max_body_size`).message, /between 1 and 16777216/);
  });
});

describe('simulateRequest with a body (-d)', () => {
  it('parses -d (default method POST, joined with &), keeps old specs valid', () => {
    const s = parseRequestSpec(`https://api.example.com/x -H 'content-type: text/plain' -d 'a b' --data c`);
    assert.ok(s.ok);
    if (s.ok) assert.deepEqual(s.spec, { method: 'POST', url: 'https://api.example.com/x', headers: { 'content-type': ['text/plain'] }, body: 'a b&c' });
    const put = parseRequestSpec(`PUT https://api.example.com/x -d z`);
    assert.ok(put.ok && put.spec.method === 'PUT' && put.spec.body === 'z');
    const old = parseRequestSpec(`https://api.example.com/x -H a:b`);
    assert.ok(old.ok);
    if (old.ok) assert.deepEqual(old.spec, { method: 'GET', url: 'https://api.example.com/x', headers: { a: ['b'] } });
    const bad = parseRequestSpec(`https://api.example.com/x -d`);
    assert.ok(!bad.ok && /-d needs a body/.test(bad.message));
  });

  it('sets req.body only when the policy reads it, reports upstream_body, answers 413 beyond the limit', async () => {
    const src = policy('{replacements: [{from: cat, to: dog}], max_body_size: 10}');
    const spec = parseRequestSpec(`https://api.example.com/x -d 'a cat'`);
    assert.ok(spec.ok);
    if (!spec.ok) return;
    const ep = endpoint('agent');
    const got = await simulateRequest(compileOk(src, AGENT), spec.spec, { endpoint: ep });
    assert.equal(got.upstream_body, 'a dog');
    assert.deepEqual(got.upstream_request?.headers['content-length'], ['5']);
    const big = parseRequestSpec(`https://api.example.com/x -d 'a cat and more'`);
    assert.ok(big.ok);
    if (!big.ok) return;
    const tooBig = await simulateRequest(compileOk(src, AGENT), big.spec, { endpoint: ep });
    assert.deepEqual(tooBig.final, { status: 413, headers: {}, error: 'MG_REQUEST_BODY_TOO_LARGE' });
    const plain = await simulateRequest(compileOk(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {a: b}}}]\n`, AGENT), big.spec, { endpoint: ep });
    assert.equal(plain.upstream_body, undefined);
  });
});
