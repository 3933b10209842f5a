import assert from 'node:assert/strict';
import { compilePolicy } from '../../services/policy/index.js';
import { AGENT, CLOUD, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';

describe('Traffic Policy source parsing', () => {
  const yamlPolicy = `# route by path
on_http_request:
  - name: foo
    expressions:
      - req.url.path.startsWith('/foo')
    actions:
      - type: forward-internal
        config:
          url: https://foo.internal
  - actions:
      - type: custom-response
        config: {status_code: 404}
`;
  const jsonPolicy = JSON.stringify(
    {
      on_http_request: [
        { name: 'foo', expressions: ["req.url.path.startsWith('/foo')"], actions: [{ type: 'forward-internal', config: { url: 'https://foo.internal' } }] },
        { actions: [{ type: 'custom-response', config: { status_code: 404 } }] },
      ],
    },
    null,
    '\t',
  );

  for (const [format, source] of [
    ['YAML', yamlPolicy],
    ['JSON (tab-indented)', jsonPolicy],
  ] as const) {
    it(`compiles a ${format} policy that routes the same way`, async () => {
      const policy = compileOk(source);
      const host = new FakeHost();
      const routed = await policy.runRequest(exchange('https://api.example.com/foo/1'), endpoint(), host);
      assert.deepEqual(routed, { kind: 'forwarded', response: 'response from foo.internal' });
      const other = await policy.runRequest(exchange('https://api.example.com/bar'), endpoint(), host);
      assert.equal(other.kind, 'respond');
      assert.equal(other.kind === 'respond' && other.response.status, 404);
    });
  }

  it('gives the 1-based source line of the offending field in YAML', () => {
    const issues = issuesOf(yamlPolicy.replace("req.url.path.startsWith('/foo')", 'reqq.url'));
    assert.equal(issueAt(issues, 'on_http_request[0].expressions[0]').line, 5);
  });

  it('gives the source line of the offending field in JSON', () => {
    const issues = issuesOf(jsonPolicy.replace('forward-internal', 'forward-intern'));
    const issue = issueAt(issues, 'on_http_request[0].actions[0].type');
    assert.equal(issue.line, jsonPolicy.split('\n').findIndex((l) => l.includes('forward-intern')) + 1);
  });

  it('reports a YAML syntax error with its line instead of throwing', () => {
    const issues = issuesOf('on_http_request:\n  - actions: [{type: deny\n');
    assert.ok(issues.length >= 1);
    assert.match(issues[0].message, /cannot parse the policy/);
    assert.equal(typeof issues[0].line, 'number');
  });

  it('refuses duplicate keys, naming the line', () => {
    const issues = issuesOf('on_http_request:\n  - actions: [{type: deny}]\n    actions: [{type: deny}]\n', AGENT);
    assert.match(issues[0].message, /unique/);
    assert.equal(issues[0].line, 3);
  });

  it("explains that an unquoted expression starting with '!' was read as a YAML tag", () => {
    const issues = issuesOf("on_http_request:\n  - expressions:\n      - !hasReqHeader('x-api')\n    actions: [{type: deny}]\n", AGENT);
    assert.equal(issues.length, 1);
    assert.match(issues[0].message, /as a tag: quote values that start with '!'/);
    assert.equal(issues[0].line, 3);
  });

  it('refuses a document that is not a map of phases', () => {
    const issues = issuesOf('- actions: [{type: deny}]\n', AGENT);
    assert.equal(issues[0].path, '');
    assert.match(issues[0].message, /must be a map of phases/);
  });

  it('accepts an empty document for an agent endpoint (a policy that does nothing)', () => {
    for (const src of ['', '# nothing yet\n', '{}']) {
      const policy = compileOk(src, AGENT);
      assert.equal(policy.hasPhase('on_http_request'), false);
      assert.equal(policy.hasPhase('on_http_response'), false);
    }
  });

  it('accepts the legacy phase names inbound and outbound', async () => {
    const policy = compileOk('inbound:\n  - actions: [{type: deny, config: {status_code: 401}}]\noutbound: []\n', AGENT);
    assert.equal(policy.hasPhase('on_http_request'), true);
    const out = await policy.runRequest(exchange('https://api.example.com/'), endpoint('agent'), new FakeHost());
    assert.equal(out.kind === 'respond' && out.response.status, 401);
  });

  it('reports issues under the legacy key the user wrote', () => {
    const issues = issuesOf('inbound:\n  - actions: [{type: nope}]\n', AGENT);
    issueAt(issues, 'inbound[0].actions[0].type');
  });

  it('keeps the source text on the compiled policy', () => {
    assert.equal(compileOk(yamlPolicy).source, yamlPolicy);
  });

  it('never throws, whatever it is given', () => {
    for (const src of ['\u0000', '{{{{', 'a: *nope', '[', '"', '!!binary xyz', 'on_http_request: !!str 5']) {
      const r = compilePolicy(src, CLOUD);
      assert.equal(r.ok, false);
    }
    // @ts-expect-error: wrong type on purpose
    assert.equal(compilePolicy(undefined, CLOUD).ok, false);
  });
});
