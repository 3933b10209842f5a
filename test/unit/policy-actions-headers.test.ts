import assert from 'node:assert/strict';
import { AGENT, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq, runRes } from './policy-actions-helpers.js';

describe('action add-headers', () => {
  it('appends request headers (values interpolated, names lower-cased) and publishes headers_added', async () => {
    const { out, x } = await runReq(
      `on_http_request:
  - actions:
      - type: add-headers
        config: {headers: {X-Via: "meshgate", x-path: "\${req.url.path}"}}
${echo('${actions.ngrok.add_headers.headers_added}')}`,
      'https://api.example.com/a',
      { headers: { 'x-via': 'proxy1' } },
    );
    assert.deepEqual(x.req.headers['x-via'], ['proxy1', 'meshgate']);
    assert.deepEqual(x.req.headers['x-path'], ['/a']);
    assert.deepEqual(JSON.parse(bodyOf(out)), { 'x-via': 'meshgate', 'x-path': '/a' });
  });

  it('replaces host instead of appending', async () => {
    const { x } = await runReq(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {host: "upstream.example.com"}}}]\n`, 'https://api.example.com/', {
      headers: { host: 'api.example.com' },
    });
    assert.deepEqual(x.req.headers.host, ['upstream.example.com']);
    assert.equal(x.req.host, 'api.example.com');
  });

  it('adds response headers in on_http_response without touching the request', async () => {
    const { out, res, x } = await runRes(
      `on_http_response:\n  - actions: [{type: add-headers, config: {headers: {x-status: "\${res.status_code}"}}}]\n`,
      'https://api.example.com/',
      { status: 201, headers: { 'x-status': ['upstream'] } },
    );
    assert.deepEqual(out, { kind: 'pass' });
    assert.deepEqual(res.headers['x-status'], ['upstream', '201']);
    assert.equal(x.req.headers['x-status'], undefined);
  });

  it('refuses a missing, empty or oversized map, user-agent and bad names, with paths', () => {
    const p = 'on_http_request[0].actions[0].config';
    const missing = issuesOf(`on_http_request:\n  - actions: [{type: add-headers}]\n`, AGENT);
    assert.match(issueAt(missing, `${p}.headers`).message, /is required/);
    const empty = issuesOf(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {}}}]\n`, AGENT);
    assert.equal(issueAt(empty, `${p}.headers`).message, 'must have at least one header');
    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`h${i}`, 'v']));
    const big = issuesOf(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: ${JSON.stringify(many)}}}]\n`, AGENT);
    assert.equal(issueAt(big, `${p}.headers`).message, 'has 11 headers; at most 10 are allowed');
    const ua = issuesOf(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {User-Agent: x}}}]\n`, AGENT);
    assert.equal(issueAt(ua, `${p}.headers.user-agent`).message, 'user-agent cannot be changed by add-headers');
    const bad = issuesOf(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {"a b": x}}}]\n`, AGENT);
    assert.equal(issueAt(bad, `${p}.headers["a b"]`).message, "'a b' is not a valid header name");
  });

  it('is a runtime error when an interpolated value contains a newline', async () => {
    const { out } = await runReq(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {x-a: "\${'a\\\\nb'}"}}}]\n`, 'https://api.example.com/');
    assert.equal(out.kind, 'error');
    assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
  });
});

describe('action remove-headers', () => {
  it('removes request headers case-insensitively and publishes the ones that were present', async () => {
    const { out, x } = await runReq(
      `on_http_request:
  - actions:
      - type: remove-headers
        config: {headers: [Cookie, x-absent]}
${echo('${actions.ngrok.remove_headers.headers_removed}')}`,
      'https://api.example.com/',
      { headers: { cookie: 'a=b', 'x-keep': '1' } },
    );
    assert.equal(x.req.headers.cookie, undefined);
    assert.deepEqual(x.req.headers['x-keep'], ['1']);
    assert.deepEqual(JSON.parse(bodyOf(out)), ['cookie']);
  });

  it('removes response headers in on_http_response; remove then add replaces', async () => {
    const { res } = await runRes(
      `on_http_response:
  - actions:
      - {type: remove-headers, config: {headers: [server]}}
      - {type: add-headers, config: {headers: {server: meshgate}}}
`,
      'https://api.example.com/',
      { status: 200, headers: { server: ['nginx'], 'x-powered-by': ['php'] } },
    );
    assert.deepEqual(res.headers, { server: ['meshgate'], 'x-powered-by': ['php'] });
  });

  it('refuses a missing or empty list, more than 10 names, duplicates, non-strings and host in requests', () => {
    const p = 'on_http_request[0].actions[0].config';
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: remove-headers${cfg}}]\n`, AGENT);
    assert.equal(issueAt(run(''), `${p}.headers`).message, 'is required: a list of 1 to 10 header names');
    assert.equal(issueAt(run(', config: {headers: []}'), `${p}.headers`).message, 'must have 1 to 10 header names, got 0');
    const eleven = JSON.stringify(Array.from({ length: 11 }, (_, i) => `h${i}`));
    assert.equal(issueAt(run(`, config: {headers: ${eleven}}`), `${p}.headers`).message, 'must have 1 to 10 header names, got 11');
    assert.match(issueAt(run(', config: {headers: [a, A]}'), `${p}.headers[1]`).message, /given twice/);
    assert.equal(issueAt(run(', config: {headers: [a, 5]}'), `${p}.headers[1]`).message, 'must be a string, got the number 5');
    assert.equal(issueAt(run(', config: {headers: [Host]}'), `${p}.headers[0]`).message, 'the host header cannot be removed from a request');
  });
});
