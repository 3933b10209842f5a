/** edge.yaml `http_request`: where the http-request action may go besides `.internal` endpoints. */
import assert from 'node:assert/strict';
import { MeshgateError } from '../../services/core/errors.js';
import { parseEdgeConfig } from '../../services/edge/config.js';

const BASE = 'listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}\n';

function issuesOf(yaml: string): string[] {
  try {
    parseEdgeConfig(BASE + yaml, '/nonexistent');
  } catch (e) {
    assert.ok(e instanceof MeshgateError && e.code === 'MG_CONFIG_INVALID', String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('edge.yaml http_request', () => {
  it('allows only internal endpoints by default', () => {
    assert.deepEqual(parseEdgeConfig(BASE, '/').httpRequest, { allowExternal: false, allowedHosts: [] });
  });

  it('reads allow_external and allowed_hosts (lower-cased, exact names, IPs or *.domain)', () => {
    const c = parseEdgeConfig(BASE + 'http_request: {allow_external: true, allowed_hosts: [API.example.com, "*.corp.example", 127.0.0.1, "[::1]"]}\n', '/');
    assert.deepEqual(c.httpRequest, { allowExternal: true, allowedHosts: ['api.example.com', '*.corp.example', '127.0.0.1', '[::1]'] });
    assert.ok(Object.isFrozen(c.httpRequest));
  });

  it('reports bad values with their paths', () => {
    assert.deepEqual(issuesOf('http_request: {allow_external: yes please}\n'), ['http_request.allow_external: must be true or false, got string "yes please"']);
    assert.deepEqual(issuesOf('http_request: {allow_external: true, allowed_hosts: ["https://x.com/"]}\n'), [
      "http_request.allowed_hosts[0]: 'https://x.com/' is not a host name, IP address or *.domain",
    ]);
    assert.deepEqual(issuesOf('http_request: {allowed_hosts: [api.example.com]}\n'), ['http_request.allowed_hosts: has no effect unless allow_external is true']);
    assert.match(issuesOf('http_request: {allow: true}\n')[0], /^http_request\.allow: unknown field/);
    assert.match(issuesOf('http_request: [1]\n')[0], /^http_request: must be a mapping/);
  });
});
