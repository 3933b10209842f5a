import assert from 'node:assert/strict';
import { parseEdgeConfig } from '../../services/edge/config.js';
import { MeshgateError } from '../../services/core/errors.js';

const issuesOf = (yaml: string): string[] => {
  try {
    parseEdgeConfig(yaml, '/nonexistent');
  } catch (e) {
    assert.ok(e instanceof MeshgateError && e.code === 'MG_CONFIG_INVALID', String(e));
    return e.issues.map((i) => `${i.path}${i.line ? `@${i.line}` : ''}: ${i.message}`);
  }
  return [];
};

describe('edge.yaml validation', () => {
  it('accepts the documented shape, applies defaults and freezes the result', () => {
    const c = parseEdgeConfig(
      'region: eu\nlisten: {http: "127.0.0.1:8080", tunnel: ":4443"}\naccounts: [{name: acme, authtokens: [t1]}]\ncloud_endpoints:\n  - {account: acme, url: "https://api.example.com", traffic_policy: "on_http_request: []"}\n',
      '/',
    );
    assert.equal(c.region, 'eu');
    assert.match(c.nodeId, /^eu-[0-9a-f]{6}$/);
    assert.deepEqual(c.listen.tunnel, { host: '0.0.0.0', port: 4443 });
    assert.equal(c.cloudEndpoints[0].poolingEnabled, false);
    assert.ok(Object.isFrozen(c.cloudEndpoints[0]));
  });

  it('lets flags override file keys', () => {
    const c = parseEdgeConfig('region: eu\nlisten: {http: "127.0.0.1:1", tunnel: "127.0.0.1:2"}\n', '/', { region: 'jp', listenHttp: '127.0.0.1:9' });
    assert.equal(c.region, 'jp');
    assert.equal(c.listen.http!.port, 9);
  });

  it('reports every problem at once with its path and line', () => {
    const issues = issuesOf(
      [
        'region: EU West',
        'listen:',
        '  http: localhost',
        'acounts: []',
        'accounts:',
        '  - name: a',
        '    authtokens: [same]',
        '  - name: b',
        '    authtokens: [same]',
        'cloud_endpoints:',
        '  - account: zzz',
        '    url: https://x.example.com/path',
        '    pooling_enabled: "yes"',
      ].join('\n'),
    );
    const expect = [
      /^region@1: 'EU West' must be a short lower-case label/,
      /^listen\.http@3: 'localhost' is not host:port/,
      /^listen\.tunnel@\d+: is required/,
      /^acounts@4: unknown field/,
      /^accounts\[1\]\.authtokens\[0\]@9: the same authtoken is already used by account 'a'/,
      /^cloud_endpoints\[0\]\.account@11: unknown account 'zzz'/,
      /^cloud_endpoints\[0\]\.url@12: .*no path/,
      /^cloud_endpoints\[0\]\.pooling_enabled@13: must be true or false/,
      /^cloud_endpoints\[0\]\.traffic_policy@11: is required/,
    ];
    for (const re of expect) assert.ok(issues.some((i) => re.test(i)), `missing ${re}\n${issues.join('\n')}`);
  });

  it('reports YAML syntax errors with a line', () => {
    const issues = issuesOf('region: eu\nlisten: {http: [\n');
    assert.ok(issues.length >= 1);
    assert.match(issues[0], /@\d+/);
  });
});
