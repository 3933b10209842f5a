import assert from 'node:assert/strict';
import { emptyPolicy, type Exchange, type ForwardInternalOptions, type ForwardResult, type RequestPhaseHost } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost } from './policy-fixtures.js';

describe('Traffic Policy rule evaluation', () => {
  const tutorial = `on_http_request:
  - expressions: ["req.url.path.startsWith('/foo')"]
    actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]
  - expressions: ["req.url.path.startsWith('/bar')"]
    actions: [{type: forward-internal, config: {url: "https://bar.internal"}}]
  - actions: [{type: custom-response, config: {status_code: 403, body: "nope"}}]
`;

  it('forwards to the target of the first rule whose expressions match and stops there', async () => {
    const host = new FakeHost();
    const out = await compileOk(tutorial).runRequest(exchange('https://api.example.com/bar/1'), endpoint(), host);
    assert.deepEqual(out, { kind: 'forwarded', response: 'response from bar.internal' });
    assert.deepEqual(host.calls, [{ url: 'https://bar.internal', onError: 'halt' }]);
  });

  it('answers with the catch-all custom-response when no routing rule matches', async () => {
    const host = new FakeHost();
    const out = await compileOk(tutorial).runRequest(exchange('https://api.example.com/baz'), endpoint(), host);
    assert.deepEqual(out, { kind: 'respond', response: { status: 403, headers: { 'content-type': ['text/plain; charset=utf-8'] }, body: 'nope' } });
    assert.equal(host.calls.length, 0);
  });

  it('runs every matching rule, not only the first', async () => {
    const policy = compileOk(
      `on_http_request:
  - name: first
    actions: [{type: forward-internal, config: {url: "https://a.internal", on_error: continue}}]
  - name: second
    expressions: ["req.method == 'GET'"]
    actions: [{type: forward-internal, config: {url: "https://b.internal", on_error: continue}}]
  - name: skipped
    expressions: ["req.method == 'POST'"]
    actions: [{type: forward-internal, config: {url: "https://c.internal"}}]
  - actions: [{type: custom-response, config: {status_code: 503, body: "all down"}}]
`,
    );
    const host = new FakeHost(['a.internal', 'b.internal']);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), host);
    assert.deepEqual(
      host.calls.map((c) => c.url),
      ['https://a.internal', 'https://b.internal'],
    );
    assert.equal(out.kind === 'respond' && out.response.status, 503);
  });

  it('requires every expression of a rule to be true', async () => {
    const policy = compileOk(
      `on_http_request:
  - expressions: ["req.method == 'GET'", "req.url.path == '/admin'"]
    actions: [{type: deny}]
`,
      AGENT,
    );
    const host = new FakeHost();
    assert.equal((await policy.runRequest(exchange('https://api.example.com/admin'), endpoint('agent'), host)).kind, 'respond');
    assert.equal((await policy.runRequest(exchange('https://api.example.com/admin', { method: 'POST' }), endpoint('agent'), host)).kind, 'pass');
    assert.equal((await policy.runRequest(exchange('https://api.example.com/other'), endpoint('agent'), host)).kind, 'pass');
  });

  it('falls through to the next rule after a failed forward-internal with on_error: continue, exposing the error', async () => {
    const policy = compileOk(`on_http_request:
  - actions:
      - type: forward-internal
        config: {url: "https://primary.internal", on_error: continue}
  - actions:
      - type: custom-response
        config:
          status_code: 502
          body: "\${actions.ngrok.forward_internal.url} failed: \${actions.ngrok.forward_internal.error.code}"
          headers: {x-same: "\${actions.meshgate.forward_internal.error.message}"}
`);
    const host = new FakeHost(['primary.internal']);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), host);
    assert.equal(out.kind, 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 502);
    assert.equal(out.response.body, 'https://primary.internal failed: MG_FORWARD_TARGET_OFFLINE');
    assert.deepEqual(out.response.headers['x-same'], ['primary.internal is offline']);
  });

  it('runs the later actions of the same rule after a failed forward with on_error: continue', async () => {
    const policy = compileOk(`on_http_request:
  - actions:
      - {type: forward-internal, config: {url: "https://a.internal", on_error: continue}}
      - {type: forward-internal, config: {url: "https://b.internal"}}
`);
    const host = new FakeHost(['a.internal']);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), host);
    assert.deepEqual(out, { kind: 'forwarded', response: 'response from b.internal' });
  });

  it('ends with the host error when forward-internal fails with on_error: halt', async () => {
    const policy = compileOk(`on_http_request:
  - actions: [{type: forward-internal, config: {url: "https://a.internal"}}]
`);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), new FakeHost(['a.internal']));
    assert.deepEqual(out, { kind: 'error', code: 'MG_FORWARD_TARGET_OFFLINE', message: 'a.internal is offline' });
  });

  it('treats an interpolated url that is not .internal as a failed forward (on_error applies)', async () => {
    const policy = compileOk(`on_http_request:
  - actions: [{type: forward-internal, config: {url: "https://\${getReqHeader('x-target')[0]}", on_error: continue}}]
  - actions: [{type: custom-response, config: {status_code: 400, body: "\${actions.ngrok.forward_internal.error.code}"}}]
`);
    const host = new FakeHost();
    const out = await policy.runRequest(exchange('https://api.example.com/', { headers: { 'x-target': 'evil.example.com' } }), endpoint(), host);
    assert.equal(host.calls.length, 0, 'the host is never asked to forward outside .internal');
    assert.equal(out.kind === 'respond' && out.response.body, 'MG_FORWARD_NOT_INTERNAL');
  });

  it('passes to the upstream when no terminating action runs on an agent endpoint', async () => {
    const policy = compileOk(`on_http_request:\n  - expressions: ["req.method == 'DELETE'"]\n    actions: [{type: deny}]\n`, AGENT);
    assert.deepEqual(await policy.runRequest(exchange('https://api.example.com/'), endpoint('agent'), new FakeHost()), { kind: 'pass' });
  });

  it('reports MG_NO_TERMINATING_ACTION when a cloud endpoint runs a policy that ended without terminating', async () => {
    const policy = compileOk(`on_http_request:\n  - expressions: ["req.method == 'DELETE'"]\n    actions: [{type: deny}]\n`, AGENT);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint('cloud'), new FakeHost());
    assert.equal(out.kind === 'error' && out.code, 'MG_NO_TERMINATING_ACTION');
  });

  it('denies with 403 and an empty body by default', async () => {
    const policy = compileOk(`on_http_request:\n  - actions: [{type: deny}]\n`);
    assert.deepEqual(await policy.runRequest(exchange('https://api.example.com/'), endpoint(), new FakeHost()), {
      kind: 'respond',
      response: { status: 403, headers: {}, body: '' },
    });
  });

  it('gives each request its own copy of a static custom-response', async () => {
    const policy = compileOk(`on_http_request:\n  - actions: [{type: custom-response, config: {body: "hi", headers: {x-a: "1"}}}]\n`);
    const first = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), new FakeHost());
    assert.equal(first.kind, 'respond');
    if (first.kind !== 'respond') return;
    first.response.headers['x-a'].push('changed by the edge');
    first.response.headers['x-new'] = ['y'];
    const second = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), new FakeHost());
    assert.deepEqual(second.kind === 'respond' && second.response.headers, { 'x-a': ['1'], 'content-type': ['text/plain; charset=utf-8'] });
  });

  it('keeps a content-type the policy sets, and adds none to an empty body', async () => {
    const policy = compileOk(`on_http_request:
  - expressions: ["req.url.path == '/json'"]
    actions: [{type: custom-response, config: {body: '{"a":1}', headers: {Content-Type: application/json}}}]
  - actions: [{type: custom-response, config: {status_code: 204}}]
`);
    const json = await policy.runRequest(exchange('https://api.example.com/json'), endpoint(), new FakeHost());
    assert.deepEqual(json.kind === 'respond' && json.response.headers, { 'content-type': ['application/json'] });
    const empty = await policy.runRequest(exchange('https://api.example.com/x'), endpoint(), new FakeHost());
    assert.deepEqual(empty.kind === 'respond' && empty.response, { status: 204, headers: {}, body: '' });
  });

  describe('runtime errors', () => {
    it('returns MG_POLICY_RUNTIME_ERROR naming the rule and expression when a header key is missing', async () => {
      const policy = compileOk(`on_http_request:
  - name: by-header
    expressions: ["req.headers['x-nope'][0] == 'a'"]
    actions: [{type: deny}]
`, AGENT);
      const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint('agent'), new FakeHost());
      assert.equal(out.kind, 'error');
      if (out.kind !== 'error') return;
      assert.equal(out.code, 'MG_POLICY_RUNTIME_ERROR');
      assert.match(out.message, /^on_http_request\[0\]\.expressions\[0\] \(rule "by-header"\): No such key: x-nope/);
    });

    it('returns MG_POLICY_RUNTIME_ERROR naming the config field when interpolation fails', async () => {
      const policy = compileOk(`on_http_request:
  - actions: [{type: forward-internal, config: {url: "https://\${req.headers['x-api'][0]}.internal", on_error: continue}}]
  - actions: [{type: deny}]
`);
      const host = new FakeHost();
      const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), host);
      assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
      assert.match(out.kind === 'error' ? out.message : '', /^on_http_request\[0\]\.actions\[0\]\.config\.url: in \$\{req\.headers\['x-api'\]\[0\]\}: No such key: x-api/);
      assert.equal(host.calls.length, 0);
    });

    it('returns MG_POLICY_RUNTIME_ERROR when a dyn expression is not a bool at runtime', async () => {
      const policy = compileOk(`on_http_request:\n  - expressions: ["dyn(req.method)"]\n    actions: [{type: deny}]\n`, AGENT);
      const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint('agent'), new FakeHost());
      assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
      assert.match(out.kind === 'error' ? out.message : '', /on_http_request\[0\]\.expressions\[0\]: expression evaluated to the string "GET", not a bool/);
    });

    it('never rejects, even when the host breaks its contract and throws', async () => {
      const policy = compileOk(`on_http_request:\n  - actions: [{type: forward-internal, config: {url: "https://a.internal"}}]\n`);
      const broken: RequestPhaseHost<string> = {
        forwardInternal(_x: Exchange, _o: ForwardInternalOptions): Promise<ForwardResult<string>> {
          return Promise.reject(new Error('socket exploded'));
        },
      };
      const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint(), broken);
      assert.equal(out.kind === 'error' && out.code, 'MG_INTERNAL');
      assert.match(out.kind === 'error' ? out.message : '', /socket exploded/);
    });

    it('keeps serving other requests after a runtime error', async () => {
      const policy = compileOk(`on_http_request:
  - expressions: ["req.headers['x-api'][0] == 'a'"]
    actions: [{type: forward-internal, config: {url: "https://a.internal"}}]
  - actions: [{type: deny}]
`);
      const host = new FakeHost();
      assert.equal((await policy.runRequest(exchange('https://api.example.com/'), endpoint(), host)).kind, 'error');
      assert.equal((await policy.runRequest(exchange('https://api.example.com/', { headers: { 'x-api': 'a' } }), endpoint(), host)).kind, 'forwarded');
    });
  });

  describe('on_http_response', () => {
    it('replaces the upstream response with custom-response', async () => {
      const policy = compileOk(`on_http_response:
  - expressions: ["res.status_code >= 500"]
    actions: [{type: custom-response, config: {status_code: 503, body: "upstream \${res.status_code} for \${req.url.path}"}}]
`, AGENT);
      const x = exchange('https://api.example.com/orders');
      const out = await policy.runResponse(x, endpoint('agent'), { status: 502, headers: { 'content-type': ['text/html'] } });
      assert.deepEqual(out, {
        kind: 'respond',
        response: { status: 503, headers: { 'content-type': ['text/plain; charset=utf-8'] }, body: 'upstream 502 for /orders' },
      });
      assert.deepEqual(await policy.runResponse(x, endpoint('agent'), { status: 200, headers: {} }), { kind: 'pass' });
    });

    it('sees response headers through getResHeader, case-insensitively', async () => {
      const policy = compileOk(`on_http_response:
  - expressions: ["getResHeader('X-Cache')[0] == 'MISS'"]
    actions: [{type: custom-response, config: {status_code: 200, body: "miss"}}]
`, AGENT);
      const out = await policy.runResponse(exchange('https://api.example.com/'), endpoint('agent'), { status: 200, headers: { 'x-cache': ['MISS'] } });
      assert.equal(out.kind === 'respond' && out.response.body, 'miss');
    });
  });

  describe('policies without rules', () => {
    it('has no phase, passes requests and responses (agent endpoints without a policy)', async () => {
      assert.equal(emptyPolicy.hasPhase('on_http_request'), false);
      assert.equal(emptyPolicy.hasPhase('on_http_response'), false);
      assert.equal(emptyPolicy.hasPhase('on_tcp_connect'), false);
      assert.deepEqual(await emptyPolicy.runRequest(exchange('https://a.example.com/'), endpoint('agent'), new FakeHost()), { kind: 'pass' });
      assert.deepEqual(await emptyPolicy.runResponse(exchange('https://a.example.com/'), endpoint('agent'), { status: 200, headers: {} }), { kind: 'pass' });
    });

    it('reports hasPhase only for phases that have rules', () => {
      const policy = compileOk(`on_http_response:\n  - actions: [{type: custom-response}]\n`, AGENT);
      assert.equal(policy.hasPhase('on_http_request'), false);
      assert.equal(policy.hasPhase('on_http_response'), true);
    });
  });
});
