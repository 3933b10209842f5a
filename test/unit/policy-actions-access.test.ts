import assert from 'node:assert/strict';
import { AGENT, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('action restrict-ips', () => {
  const policy = `on_http_request:
  - actions:
      - type: restrict-ips
        config: {allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.1.0.0/16"]}
${echo('${actions.ngrok.restrict_ips.action} ${actions.ngrok.restrict_ips.matched_cidr}')}`;

  it('allows an IP in an allow CIDR and publishes action and matched_cidr', async () => {
    assert.equal(bodyOf((await runReq(policy, 'https://api.example.com/', { clientIp: '10.2.3.4' })).out), 'allow 10.0.0.0/8');
    assert.equal(bodyOf((await runReq(policy, 'https://api.example.com/', { clientIp: '2001:db8::1' })).out), 'allow 2001:db8::/32');
    assert.equal(bodyOf((await runReq(policy, 'https://api.example.com/', { clientIp: '::ffff:10.9.9.9' })).out), 'allow 10.0.0.0/8');
  });

  it('denies with 403 and meshgate-error-code MG_IP_RESTRICTED when a deny CIDR matches or no allow CIDR does', async () => {
    for (const ip of ['10.1.2.3', '192.0.2.1']) {
      const { out } = await runReq(policy, 'https://api.example.com/', { clientIp: ip });
      assert.equal(out.kind, 'respond');
      if (out.kind !== 'respond') return;
      assert.equal(out.response.status, 403);
      assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_IP_RESTRICTED']);
      assert.equal(JSON.parse(out.response.body).error.code, 'MG_IP_RESTRICTED');
    }
  });

  it('with only deny, allows everything else; with enforce: false, only sets the variables', async () => {
    const denyOnly = `on_http_request:\n  - actions: [{type: restrict-ips, config: {deny: ["192.0.2.0/24"]}}]\n${echo('${actions.ngrok.restrict_ips.action}')}`;
    assert.equal(bodyOf((await runReq(denyOnly, 'https://api.example.com/', { clientIp: '198.51.100.1' })).out), 'allow');
    const audit = `on_http_request:\n  - actions: [{type: restrict-ips, config: {deny: ["192.0.2.0/24"], enforce: false}}]\n${echo('${actions.ngrok.restrict_ips.action}')}`;
    assert.equal(bodyOf((await runReq(audit, 'https://api.example.com/', { clientIp: '192.0.2.5' })).out), 'deny');
  });

  it('interpolates CIDRs (a lone ${} may be a list) and fails closed on a bad runtime CIDR', async () => {
    const dyn = `on_http_request:
  - actions:
      - {type: set-vars, config: {vars: [{office: ["192.0.2.0/24", "198.51.100.7"]}]}}
      - {type: restrict-ips, config: {allow: ["\${vars.office}"]}}
${echo('in')}`;
    assert.equal(bodyOf((await runReq(dyn, 'https://api.example.com/', { clientIp: '198.51.100.7' })).out), 'in');
    assert.equal((await runReq(dyn, 'https://api.example.com/', { clientIp: '198.51.100.8' })).out.kind, 'respond');
    const bad = `on_http_request:\n  - actions: [{type: restrict-ips, config: {allow: ["\${'nope'}"]}}]\n`;
    const { out } = await runReq(bad, 'https://api.example.com/');
    assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
  });

  it('refuses bad CIDRs, no CIDR at all, ip_policies and a non-bool enforce, with paths', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: restrict-ips, config: ${cfg}}]\n`, AGENT);
    assert.match(issueAt(run('{allow: ["10.0.0.0/33"]}'), `${P}.allow[0]`).message, /'10\.0\.0\.0\/33' is not a CIDR/);
    assert.match(issueAt(run('{deny: ["x"]}'), `${P}.deny[0]`).message, /is not a CIDR/);
    assert.equal(issueAt(run('{}'), P).message, 'needs at least one CIDR in allow or deny');
    assert.match(issueAt(run('{allow: ["10.0.0.0/8"], ip_policies: [ipp_1]}'), `${P}.ip_policies`).message, /not supported/);
    assert.equal(issueAt(run('{allow: ["10.0.0.0/8"], enforce: "yes"}'), `${P}.enforce`).message, 'must be true or false, got the string "yes"');
    assert.match(issueAt(run('{allow: "10.0.0.0/8"}'), `${P}.allow`).message, /must be a list of CIDRs/);
  });
});

describe('action basic-auth', () => {
  const policy = `on_http_request:
  - actions:
      - type: basic-auth
        config: {credentials: ["alice:correct-horse", "bob:battery-staple"], realm: "staff"}
${echo('${actions.ngrok.basic_auth.credentials.username} ${actions.ngrok.basic_auth.credentials.authorized}')}`;

  it('lets matching credentials through and publishes the result variables', async () => {
    const { out } = await runReq(policy, 'https://api.example.com/', { headers: { authorization: basic('bob', 'battery-staple') } });
    assert.equal(bodyOf(out), 'bob true');
  });

  it('answers 401 with a challenge for missing, wrong or malformed credentials', async () => {
    for (const h of [undefined, basic('alice', 'wrong-password'), basic('mallory', 'correct-horse'), 'Bearer abc', 'Basic !!!']) {
      const { out } = await runReq(policy, 'https://api.example.com/', { headers: h === undefined ? {} : { authorization: h } });
      assert.equal(out.kind, 'respond', String(h));
      if (out.kind !== 'respond') return;
      assert.equal(out.response.status, 401);
      assert.deepEqual(out.response.headers['www-authenticate'], ['Basic realm="staff", charset="UTF-8"']);
      assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_BASIC_AUTH_FAILED']);
    }
  });

  it('defaults the realm to "ngrok"; enforce: false continues with authorized false', async () => {
    const { out } = await runReq(`on_http_request:\n  - actions: [{type: basic-auth, config: {credentials: ["u:12345678"]}}]\n`, 'https://api.example.com/');
    assert.deepEqual(out.kind === 'respond' && out.response.headers['www-authenticate'], ['Basic realm="ngrok", charset="UTF-8"']);
    const audit = await runReq(
      `on_http_request:\n  - actions: [{type: basic-auth, config: {credentials: ["u:12345678"], enforce: false}}]\n${echo('${actions.ngrok.basic_auth.credentials.presented} ${actions.ngrok.basic_auth.credentials.authorized}')}`,
      'https://api.example.com/',
      { headers: { authorization: basic('u', 'nope-nope') } },
    );
    assert.equal(bodyOf(audit.out), 'true false');
  });

  it('accepts interpolated credentials (password with a colon: the first : splits)', async () => {
    const { out } = await runReq(
      `on_http_request:\n  - actions: [{type: basic-auth, config: {credentials: ["\${'svc'}:pa:ss-word"]}}]\n${echo('ok')}`,
      'https://api.example.com/',
      { headers: { authorization: basic('svc', 'pa:ss-word') } },
    );
    assert.equal(bodyOf(out), 'ok');
  });

  it('refuses bad credentials, too many, a bad realm, with paths', () => {
    const run = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: basic-auth, config: ${cfg}}]\n`, AGENT);
    assert.match(issueAt(run('{}'), `${P}.credentials`).message, /is required/);
    assert.equal(issueAt(run('{credentials: ["nocolon"]}'), `${P}.credentials[0]`).message, "must be 'user:password' (no ':' found)");
    assert.equal(issueAt(run('{credentials: [":password1"]}'), `${P}.credentials[0]`).message, 'the user name must not be empty');
    assert.equal(issueAt(run('{credentials: ["u:short"]}'), `${P}.credentials[0]`).message, 'the password must be 8 to 128 characters, got 5');
    const eleven = JSON.stringify(Array.from({ length: 11 }, (_, i) => `u${i}:password`));
    assert.match(issueAt(run(`{credentials: ${eleven}}`), `${P}.credentials`).message, /must have 1 to 10/);
    assert.match(issueAt(run('{credentials: ["u:password"], realm: "a\\"b"}'), `${P}.realm`).message, /printable ASCII/);
  });
});
