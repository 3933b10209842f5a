import assert from 'node:assert/strict';
import { AGENT, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';

describe('action url-rewrite', () => {
  it('rewrites the path with capture groups, keeps the query, and publishes matches and url', async () => {
    const { out, x } = await runReq(
      `on_http_request:
  - actions:
      - type: url-rewrite
        config: {from: "/v1/users/([0-9]+)", to: "/api/users?id=$1"}
${echo('${actions.ngrok.url_rewrite.matches} ${actions.ngrok.url_rewrite.url} ${req.url.path} ${req.url.query}')}`,
      'https://api.example.com/v1/users/42',
    );
    assert.equal(x.req.path, '/api/users');
    assert.equal(x.req.query, 'id=42');
    assert.equal(bodyOf(out), '["/v1/users/42"] https://api.example.com/api/users?id=42 /api/users id=42');
  });

  it('matches over the whole URL (scheme, host, query) and replaces every match', async () => {
    const { x } = await runReq(`on_http_request:\n  - actions: [{type: url-rewrite, config: {from: "a", to: "b"}}]\n`, 'https://api.example.com/aa?q=a');
    assert.equal(x.req.host, 'bpi.exbmple.com');
    assert.deepEqual(x.req.headers.host, ['bpi.exbmple.com']);
    assert.equal(x.req.path, '/bb');
    assert.equal(x.req.query, 'q=b');
  });

  it('replaces the whole URL when from is absent, keeping a non-default port in the host header', async () => {
    const { x } = await runReq(`on_http_request:\n  - actions: [{type: url-rewrite, config: {to: "http://other.example.com:8080/x?y=\${req.url.path}"}}]\n`, 'https://api.example.com/p');
    assert.deepEqual([x.req.scheme, x.req.host, x.req.port, x.req.path, x.req.query], ['http', 'other.example.com', 8080, '/x', 'y=/p']);
    assert.deepEqual(x.req.headers.host, ['other.example.com:8080']);
  });

  it('leaves the request alone when from does not match (matches is empty)', async () => {
    const { out, x } = await runReq(
      `on_http_request:\n  - actions: [{type: url-rewrite, config: {from: "/nope", to: "/x"}}]\n${echo('${size(actions.ngrok.url_rewrite.matches)}')}`,
      'https://api.example.com/p?q=1',
    );
    assert.equal(x.req.path, '/p');
    assert.equal(x.req.query, 'q=1');
    assert.equal(bodyOf(out), '0');
  });

  it('interpolates from before using it as a regex', async () => {
    const { x } = await runReq(`on_http_request:\n  - actions: [{type: url-rewrite, config: {from: "/\${req.method.lowerAscii()}/", to: "/"}}]\n`, 'https://api.example.com/get/x');
    assert.equal(x.req.path, '/x');
  });

  it('is a runtime error when the result is not an http(s) URL, or an interpolated from is not a regex', async () => {
    const a = await runReq(`on_http_request:\n  - actions: [{type: url-rewrite, config: {to: "not a url"}}]\n`, 'https://api.example.com/');
    assert.equal(a.out.kind === 'error' && a.out.code, 'MG_POLICY_RUNTIME_ERROR');
    assert.match(a.out.kind === 'error' ? a.out.message : '', /on_http_request\[0\]\.actions\[0\]\.config\.to: the rewritten URL 'not a url' is not a valid absolute URL/);
    const b = await runReq(`on_http_request:\n  - actions: [{type: url-rewrite, config: {from: "\${'(x'}", to: "/"}}]\n`, 'https://api.example.com/');
    assert.equal(b.out.kind === 'error' && b.out.code, 'MG_POLICY_RUNTIME_ERROR');
    assert.match(b.out.kind === 'error' ? b.out.message : '', /config\.from: invalid regular expression/);
  });

  it('refuses a missing to, non-string or empty from, invalid and non-RE2 regexes, and response-phase use', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: url-rewrite, config: ${cfg}}]\n`, AGENT);
    assert.equal(issueAt(run('{from: "/a"}'), `${P}.to`).message, 'is required');
    assert.equal(issueAt(run('{from: 5, to: "/"}'), `${P}.from`).message, 'must be a regular expression string, got the number 5');
    assert.match(issueAt(run('{from: "", to: "/"}'), `${P}.from`).message, /must not be empty/);
    assert.match(issueAt(run('{from: "(a", to: "/"}'), `${P}.from`).message, /^invalid regular expression '\(a'/);
    assert.match(issueAt(run('{from: "(a)\\\\1", to: "/"}'), `${P}.from`).message, /uses a backreference, which RE2/);
    assert.match(issueAt(run('{from: "a(?=b)", to: "/"}'), `${P}.from`).message, /uses a lookahead/);
    const res = issuesOf(`on_http_response:\n  - actions: [{type: url-rewrite, config: {to: "/"}}]\n`, AGENT);
    assert.match(issueAt(res, 'on_http_response[0].actions[0].type').message, /url-rewrite cannot be used in on_http_response/);
  });
});

describe('action redirect', () => {
  it('redirects http to https with 301 and extra headers, ending the phase', async () => {
    const { out } = await runReq(
      `on_http_request:
  - actions:
      - type: redirect
        config: {from: "^http://([^/]+)(.*)$", to: "https://$1$2", status_code: 301, headers: {x-why: "tls \${req.method}"}}
${echo('not reached')}`,
      'http://api.example.com/a?b=1',
    );
    assert.deepEqual(out, { kind: 'respond', response: { status: 301, headers: { 'x-why': ['tls GET'], location: ['https://api.example.com/a?b=1'] }, body: '' } });
  });

  it('is skipped when the URL does not change, and the phase continues with the result variables set', async () => {
    const { out } = await runReq(
      `on_http_request:\n  - actions: [{type: redirect, config: {from: "^http://(.*)$", to: "https://$1"}}]\n${echo('${actions.ngrok.redirect.url} ${actions.ngrok.redirect.matches}')}`,
      'https://api.example.com/a',
    );
    assert.equal(bodyOf(out), 'https://api.example.com/a []');
  });

  it('defaults to 302 and replaces the whole URL without from (a relative location is allowed)', async () => {
    const { out } = await runReq(`on_http_request:\n  - actions: [{type: redirect, config: {to: "/login?next=\${req.url.path}"}}]\n`, 'https://api.example.com/private');
    assert.deepEqual(out, { kind: 'respond', response: { status: 302, headers: { location: ['/login?next=/private'] }, body: '' } });
  });

  it('refuses a non-3xx status, a missing to, bad headers', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: redirect, config: ${cfg}}]\n`, AGENT);
    assert.equal(issueAt(run('{to: "/", status_code: 200}'), `${P}.status_code`).message, 'must be between 300 and 399, got 200');
    assert.equal(issueAt(run('{from: "x"}'), `${P}.to`).message, 'is required');
    assert.equal(issueAt(run('{to: "/", headers: [a]}'), `${P}.headers`).message, 'must be a map of header name to value, got a list');
  });

  it('counts as maybe-terminating for cloud endpoints (a rule after it is reachable, but something must still terminate)', () => {
    const issues = issuesOf(`on_http_request:\n  - actions: [{type: redirect, config: {to: "https://x.example.com"}}]\n`);
    assert.equal(issues.length, 1);
    assert.match(issues[0].message, /terminat/);
  });
});
