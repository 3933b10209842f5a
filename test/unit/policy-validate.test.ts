import assert from 'node:assert/strict';
import type { CompileOptions } from '../../services/policy/index.js';
import { AGENT, CATCH_ALL, CLOUD, compileOk, issueAt, issuesOf } from './policy-fixtures.js';

/** A cloud policy whose first rule is `rule` (YAML, indented as a list item) plus a valid catch-all. */
function withRule(rule: string): string {
  return `on_http_request:\n${rule}${CATCH_ALL}`;
}

describe('Traffic Policy validation', () => {
  describe('structure', () => {
    it('refuses an unknown phase and suggests the closest name', () => {
      const issue = issueAt(issuesOf(`on_http_requests: []\n`, AGENT), 'on_http_requests');
      assert.match(issue.message, /unknown phase 'on_http_requests'/);
      assert.match(issue.message, /did you mean 'on_http_request'/);
      assert.equal(issue.line, 1);
    });

    it('refuses a phase given both by its name and its legacy alias', () => {
      const issues = issuesOf('on_http_request: []\ninbound: []\n', AGENT);
      assert.match(issueAt(issues, 'inbound').message, /same phase/);
    });

    it('refuses a phase that is a map instead of a list of rules, with a hint', () => {
      const issue = issueAt(issuesOf('on_http_request:\n  actions: [{type: deny}]\n', AGENT), 'on_http_request');
      assert.match(issue.message, /must be a list of rules/);
      assert.match(issue.message, /- actions:/);
    });

    it('refuses an unknown field in a rule, naming it', () => {
      const issue = issueAt(issuesOf(withRule('  - expresions: ["true"]\n    actions: [{type: deny}]\n')), 'on_http_request[0].expresions');
      assert.match(issue.message, /unknown field 'expresions'/);
      assert.match(issue.message, /did you mean 'expressions'/);
      assert.equal(issue.line, 2);
    });

    it('refuses an unknown field in an action, naming it', () => {
      const issue = issueAt(issuesOf(withRule('  - actions: [{type: deny, configg: {}}]\n')), 'on_http_request[0].actions[0].configg');
      assert.match(issue.message, /unknown field 'configg'/);
    });

    it('refuses an unknown field in an action config, listing the accepted ones', () => {
      const issue = issueAt(
        issuesOf(withRule('  - actions: [{type: custom-response, config: {status: 200}}]\n')),
        'on_http_request[0].actions[0].config.status',
      );
      assert.match(issue.message, /unknown field 'status'.*status_code, body, headers/);
    });

    it('requires actions in every rule', () => {
      const issue = issueAt(issuesOf(withRule('  - name: no-actions\n    expressions: ["true"]\n')), 'on_http_request[0].actions');
      assert.match(issue.message, /is required/);
      assert.equal(issue.line, 2, 'a missing field points at its rule');
    });

    it('refuses an empty actions list', () => {
      assert.match(issueAt(issuesOf(withRule('  - actions: []\n')), 'on_http_request[0].actions').message, /must not be empty/);
    });

    it('refuses an unknown action type and suggests the closest one', () => {
      const issue = issueAt(issuesOf(withRule('  - actions: [{type: forward-internl}]\n')), 'on_http_request[0].actions[0].type');
      assert.match(issue.message, /unknown action type 'forward-internl'/);
      assert.match(issue.message, /did you mean 'forward-internal'/);
    });

    it('refuses an action that is not allowed in the phase', () => {
      const issue = issueAt(
        issuesOf('on_http_response:\n  - actions: [{type: forward-internal, config: {url: "https://a.internal"}}]\n', AGENT),
        'on_http_response[0].actions[0].type',
      );
      assert.match(issue.message, /cannot be used in on_http_response/);
    });

    it('refuses a non-string rule name and non-string expressions', () => {
      const issues = issuesOf(withRule('  - name: 5\n    expressions: [true]\n    actions: [{type: deny}]\n'));
      issueAt(issues, 'on_http_request[0].name');
      assert.match(issueAt(issues, 'on_http_request[0].expressions[0]').message, /must be a CEL expression string/);
    });

    it('reports every problem of a policy, not only the first', () => {
      const issues = issuesOf(
        'on_http_request:\n  - expressions: ["reqq"]\n    actions: [{type: nope}]\n  - actions: [{type: deny, config: {status_code: 1000}}]\nfoo: 1\n',
      );
      assert.deepEqual(
        issues.map((i) => i.path),
        ['on_http_request[0].expressions[0]', 'on_http_request[0].actions[0].type', 'on_http_request[1].actions[0].config.status_code', 'foo'],
      );
    });
  });

  describe('CEL expressions', () => {
    it('reports an undeclared variable with its column', () => {
      const issue = issueAt(
        issuesOf(withRule(`  - expressions: ["req.method == 'GET'", "reqq.method == 'GET'"]\n    actions: [{type: deny}]\n`)),
        'on_http_request[0].expressions[1]',
      );
      assert.equal(issue.message, "undeclared reference 'reqq' (column 1)");
    });

    it('reports an unknown field of a typed variable with its column and the known fields', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["req.methodd == 'GET'"]\n    actions: [{type: deny}]\n`)), 'on_http_request[0].expressions[0]');
      assert.match(issue.message, /^unknown field 'methodd' on req \(fields: method, .*\) \(column 5\)$/);
    });

    it('reports a syntax error with its column', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["req.method == "]\n    actions: [{type: deny}]\n`)), 'on_http_request[0].expressions[0]');
      assert.match(issue.message, /^syntax error: .*\(column 15\)$/);
    });

    it('gives line and column for an error in a multi-line expression', () => {
      const issue = issueAt(
        issuesOf(withRule(`  - expressions:\n      - |\n        req.method == 'GET' &&\n          reqq.x\n    actions: [{type: deny}]\n`)),
        'on_http_request[0].expressions[0]',
      );
      assert.match(issue.message, /undeclared reference 'reqq' \(line 2, column 3\)/);
    });

    it('refuses an expression that is not a bool', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["req.url.path"]\n    actions: [{type: deny}]\n`)), 'on_http_request[0].expressions[0]');
      assert.equal(issue.message, 'expression must evaluate to bool, but it evaluates to string');
    });

    it('refuses a type error between operands', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["req.url.port == 'x'"]\n    actions: [{type: deny}]\n`)), 'on_http_request[0].expressions[0]');
      assert.match(issue.message, /no such overload|no matching overload/);
    });

    it('refuses res.* in on_http_request, explaining where it is available', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["res.status_code == 200"]\n    actions: [{type: deny}]\n`)), 'on_http_request[0].expressions[0]');
      assert.match(issue.message, /undeclared reference 'res'.*only available in on_http_response/);
    });

    it('accepts res.* and getResHeader in on_http_response', () => {
      compileOk(`on_http_response:\n  - expressions: ["res.status_code >= 500 && hasResHeader('Retry-After')"]\n    actions: [{type: custom-response}]\n`, AGENT);
    });

    it('refuses a literal regex RE2 cannot run (lookahead) and an invalid one', () => {
      const issues = issuesOf(withRule(`  - expressions: ["req.url.path.matches('^/(?!admin)')", "req.url.path.matches('[')"]\n    actions: [{type: deny}]\n`));
      assert.match(issueAt(issues, 'on_http_request[0].expressions[0]').message, /lookahead.*RE2/);
      assert.match(issueAt(issues, 'on_http_request[0].expressions[1]').message, /invalid regular expression/);
    });

    it('refuses a bad ${} placeholder at the path of the config field', () => {
      const issue = issueAt(
        issuesOf(withRule(`  - actions: [{type: custom-response, config: {body: "hello \${req.nope}"}}]\n`)),
        'on_http_request[0].actions[0].config.body',
      );
      assert.match(issue.message, /in \$\{req\.nope\}: unknown field 'nope' on req/);
    });

    it('refuses an unterminated ${', () => {
      const issue = issueAt(issuesOf(withRule(`  - actions: [{type: custom-response, config: {body: "hello \${req.method"}}]\n`)), 'on_http_request[0].actions[0].config.body');
      assert.match(issue.message, /unterminated/);
    });
  });

  describe('forward-internal config', () => {
    const fwd = (config: string, opts: CompileOptions = CLOUD) => issuesOf(withRule(`  - expressions: ["true"]\n    actions: [{type: forward-internal, config: ${config}}]\n`), opts);

    it('requires url', () => {
      assert.match(issueAt(fwd('{}'), 'on_http_request[0].actions[0].config.url').message, /is required/);
    });

    it('refuses a static url whose host is not .internal', () => {
      const issue = issueAt(fwd('{url: "https://foo.example.com"}'), 'on_http_request[0].actions[0].config.url');
      assert.match(issue.message, /not an internal endpoint: its host must end in \.internal/);
    });

    it('refuses a static url that is not a URL, or has a scheme an http endpoint cannot forward to', () => {
      assert.match(issueAt(fwd('{url: "foo.internal"}'), 'on_http_request[0].actions[0].config.url').message, /not a valid URL/);
      assert.match(issueAt(fwd('{url: "tcp://foo.internal:5432"}'), 'on_http_request[0].actions[0].config.url').message, /scheme tcp/);
    });

    it('refuses an on_error other than halt or continue', () => {
      assert.match(issueAt(fwd('{url: "https://a.internal", on_error: ignore}'), 'on_http_request[0].actions[0].config.on_error').message, /halt, continue/);
    });

    it('accepts an interpolated url (checked per request)', () => {
      compileOk(withRule(`  - actions: [{type: forward-internal, config: {url: "https://\${req.host.split('.')[0]}.internal"}}]\n`).replace(CATCH_ALL, ''));
    });
  });

  describe('custom-response and deny config', () => {
    it('refuses a status_code out of range or not an integer', () => {
      const issues = issuesOf(
        withRule(`  - expressions: ["true"]\n    actions: [{type: custom-response, config: {status_code: 600}}]\n  - expressions: ["true"]\n    actions: [{type: deny, config: {status_code: "403"}}]\n`),
      );
      assert.match(issueAt(issues, 'on_http_request[0].actions[0].config.status_code').message, /between 100 and 599, got 600/);
      assert.match(issueAt(issues, 'on_http_request[1].actions[0].config.status_code').message, /must be an integer/);
    });

    it('refuses more than 10 headers', () => {
      const headers = Array.from({ length: 11 }, (_, i) => `x-h${i}: v`).join(', ');
      const issue = issueAt(
        issuesOf(withRule(`  - expressions: ["true"]\n    actions: [{type: custom-response, config: {headers: {${headers}}}}]\n`)),
        'on_http_request[0].actions[0].config.headers',
      );
      assert.match(issue.message, /11 headers; at most 10/);
    });

    it('refuses an invalid header name, at the header path', () => {
      const issues = issuesOf(withRule(`  - expressions: ["true"]\n    actions: [{type: custom-response, config: {headers: {"bad header": v}}}]\n`));
      assert.match(issueAt(issues, 'on_http_request[0].actions[0].config.headers["bad header"]').message, /not a valid header name/);
    });
  });

  describe('termination', () => {
    it('refuses a cloud policy without on_http_request', () => {
      for (const src of ['', 'on_http_response: []\n', 'on_http_request: []\n']) {
        const issue = issueAt(issuesOf(src), 'on_http_request');
        assert.match(issue.message, /cloud endpoint.*terminating action/);
      }
    });

    it('refuses a cloud policy whose last rule has expressions (requests can fall through)', () => {
      const issue = issueAt(
        issuesOf(`on_http_request:\n  - expressions: ["req.url.path.startsWith('/foo')"]\n    actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]\n`),
        'on_http_request[0].expressions',
      );
      assert.match(issue.message, /fall through.*last rule without expressions/);
    });

    it('refuses a cloud policy ending in forward-internal with on_error: continue', () => {
      const issue = issueAt(
        issuesOf(`on_http_request:\n  - actions: [{type: forward-internal, config: {url: "https://foo.internal", on_error: continue}}]\n`),
        'on_http_request[0].actions[0]',
      );
      assert.match(issue.message, /on_error: continue/);
    });

    it('accepts a cloud policy ending in forward-internal with on_error: halt (the default)', () => {
      compileOk(`on_http_request:\n  - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]\n`);
    });

    it('accepts an agent policy that does not terminate (the rest goes to the upstream)', () => {
      compileOk(`on_http_request:\n  - expressions: ["req.method == 'DELETE'"]\n    actions: [{type: deny}]\n`, AGENT);
    });

    it('refuses an action after an unconditional terminating action in the same rule', () => {
      const issue = issueAt(issuesOf(withRule(`  - expressions: ["true"]\n    actions: [{type: deny}, {type: custom-response}]\n`)), 'on_http_request[0].actions[1]');
      assert.match(issue.message, /unreachable action: deny at on_http_request\[0\]\.actions\[0\]/);
    });

    it('refuses rules after a rule that always ends the phase, for agent endpoints too', () => {
      const issues = issuesOf(`on_http_request:\n  - actions: [{type: deny}]\n  - expressions: ["true"]\n    actions: [{type: deny}]\n`, AGENT);
      assert.match(issueAt(issues, 'on_http_request[1]').message, /unreachable rule: on_http_request\[0\]/);
    });

    it('accepts actions after forward-internal with on_error: continue (failover)', () => {
      compileOk(
        `on_http_request:\n  - actions:\n    - {type: forward-internal, config: {url: "https://a.internal", on_error: continue}}\n    - {type: forward-internal, config: {url: "https://b.internal"}}\n`,
      );
    });
  });

  describe('phases per endpoint kind', () => {
    it('refuses on_tcp_connect on an internal http endpoint', () => {
      const issue = issueAt(issuesOf('on_tcp_connect:\n  - actions: [{type: deny}]\n', { endpointType: 'agent', protocol: 'https', binding: 'internal' }), 'on_tcp_connect');
      assert.match(issue.message, /not supported for internal https endpoints/);
    });

    it('accepts on_tcp_connect on a public http endpoint', () => {
      const p = compileOk('on_tcp_connect:\n  - expressions: ["conn.client_ip == \'10.0.0.1\'"]\n    actions: [{type: deny}]\n', AGENT);
      assert.equal(p.hasPhase('on_tcp_connect'), true);
    });

    it('refuses http phases on a tcp endpoint and requires on_tcp_connect for a tcp cloud endpoint', () => {
      const issues = issuesOf('on_http_request:\n  - actions: [{type: deny}]\n', { endpointType: 'cloud', protocol: 'tcp', binding: 'public' });
      assert.match(issueAt(issues, 'on_http_request').message, /not available for tcp endpoints/);
      assert.match(issueAt(issues, 'on_tcp_connect').message, /cloud endpoint/);
    });

    it('refuses req.* in on_tcp_connect', () => {
      const issue = issueAt(issuesOf('on_tcp_connect:\n  - expressions: ["req.method == \'GET\'"]\n    actions: [{type: deny}]\n', AGENT), 'on_tcp_connect[0].expressions[0]');
      assert.match(issue.message, /undeclared reference 'req'/);
    });
  });
});
