import assert from 'node:assert/strict';
import { AGENT, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq, runRes } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';

describe('action set-vars', () => {
  it('sets typed and interpolated variables visible to later rules (vars.*)', async () => {
    const { out } = await runReq(
      `on_http_request:
  - actions:
      - type: set-vars
        config:
          vars:
            - tier: "\${'x-tier' in req.headers ? req.headers['x-tier'][0] : 'free'}"
            - limits: "\${[10, 20]}"
            - n: 3
            - flag: true
            - label: "user-\${req.url.path}"
  - expressions: ["vars.tier == 'gold' && vars.limits[1] == 20 && vars.n + 1 == 4 && vars.flag"]
    actions: [{type: custom-response, config: {body: "\${vars.label}"}}]
${echo('fallthrough')}`,
      'https://api.example.com/me',
      { headers: { 'x-tier': 'gold' } },
    );
    assert.equal(bodyOf(out), 'user-/me');
  });

  it('lets later entries read earlier ones; vars are scoped to the phase', async () => {
    const policy = `on_http_request:
  - actions: [{type: set-vars, config: {vars: [{a: "1"}, {b: "\${vars.a}2"}]}}]
on_http_response:
  - actions: [{type: add-headers, config: {headers: {x-has-a: "\${has(vars.a)}"}}}]
`;
    const { out } = await runReq(policy + echo('x'), 'https://api.example.com/');
    assert.equal(out.kind, 'pass');
    const { res } = await runRes(policy, 'https://api.example.com/', { status: 200, headers: {} });
    assert.deepEqual(res.headers['x-has-a'], ['false']);
    const r2 = await runReq(`on_http_request:\n  - actions: [{type: set-vars, config: {vars: [{a: "1"}, {b: "\${vars.a}2"}]}}]\n${echo('${vars.b}')}`, 'https://api.example.com/');
    assert.equal(bodyOf(r2.out), '12');
  });

  it('refuses maps with zero or several keys, bad names, a non-list, and a missing vars (ngrok 2252)', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: set-vars${cfg}}]\n`, AGENT);
    assert.match(issueAt(run(''), `${P}.vars`).message, /is required/);
    assert.match(issueAt(run(', config: {vars: {a: 1}}'), `${P}.vars`).message, /must be a list of single-key maps/);
    assert.equal(issueAt(run(', config: {vars: [{a: 1, b: 2}]}'), `${P}.vars[0]`).message, 'must be a map with exactly one key (- name: value), got 2 keys');
    assert.equal(issueAt(run(', config: {vars: [{}]}'), `${P}.vars[0]`).message, 'must be a map with exactly one key (- name: value), got 0 keys');
    assert.match(issueAt(run(', config: {vars: [{1a: x}]}'), `${P}.vars[0]`).message, /'1a' is not a valid variable name/);
    assert.match(issueAt(run(', config: {vars: [{a: "${nope}"}]}'), `${P}.vars[0].a`).message, /nope/);
  });
});

describe('action log', () => {
  it('appends evaluated metadata to exchange.logs and publishes it', async () => {
    const { out, x } = await runReq(
      `on_http_request:
  - actions:
      - type: log
        config: {metadata: {path: "\${req.url.path}", n: "\${1 + 1}", static: 7, tags: [a, b]}}
${echo('${actions.ngrok.log.metadata.path}')}`,
      'https://api.example.com/p',
    );
    assert.equal(bodyOf(out), '/p');
    assert.deepEqual(x.logs, [
      { phase: 'on_http_request', endpointId: 'ep_123', action: 'on_http_request[0].actions[0]', metadata: { path: '/p', n: 2, static: 7, tags: ['a', 'b'] } },
    ]);
  });

  it('refuses missing, empty or non-map metadata', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: log${cfg}}]\n`, AGENT);
    assert.match(issueAt(run(''), `${P}.metadata`).message, /is required/);
    assert.equal(issueAt(run(', config: {metadata: {}}'), `${P}.metadata`).message, 'must have 1 to 32 entries, got 0');
    assert.match(issueAt(run(', config: {metadata: [a]}'), `${P}.metadata`).message, /must be a map/);
  });
});

describe('action close-connection', () => {
  it('ends the phase with outcome close', async () => {
    const { out } = await runReq(`on_http_request:\n  - actions: [{type: close-connection}]\n`, 'https://api.example.com/');
    assert.deepEqual(out, { kind: 'close' });
  });

  it('takes no config, always terminates (makes later actions unreachable) and is not allowed in on_http_response', () => {
    const cfg = issuesOf(`on_http_request:\n  - actions: [{type: close-connection, config: {now: true}}]\n`, AGENT);
    assert.equal(issueAt(cfg, `${P}.now`).message, "unknown field 'now' (close-connection takes no config)");
    const unreachable = issuesOf(`on_http_request:\n  - actions: [{type: close-connection}, {type: deny}]\n`, AGENT);
    assert.equal(unreachable.length, 1);
    const res = issuesOf(`on_http_response:\n  - actions: [{type: close-connection}]\n`, AGENT);
    assert.match(issueAt(res, 'on_http_response[0].actions[0].type').message, /cannot be used in on_http_response/);
  });
});
