import assert from 'node:assert/strict';
import { parseEndpointUrl } from '../../services/core/endpoint-url.js';
import { MeshgateError } from '../../services/core/errors.js';
import { policyView, type Endpoint, type EndpointTarget } from '../../services/edge/endpoints/endpoint.js';
import { EndpointRegistry } from '../../services/edge/endpoints/registry.js';
import { selectMember } from '../../services/edge/pools/select.js';

let n = 0;
function ep(url: string, opts: { account?: string; pooling?: boolean; type?: 'agent' | 'cloud'; target?: EndpointTarget | null } = {}): Endpoint {
  const u = parseEndpointUrl(url);
  const id = `ep_${++n}`;
  const type = opts.type ?? 'agent';
  return {
    id,
    account: opts.account ?? 'acme',
    url: u,
    type,
    poolingEnabled: opts.pooling ?? false,
    policy: null,
    view: policyView(id, u, type, opts.pooling ?? false),
    description: '',
    metadata: '',
    upstreamUrl: '',
    region: 'eu',
    nodeId: 'eu-1',
    createdAt: new Date(),
    target: opts.target === undefined ? (type === 'agent' ? { open: true, sessionId: 's' } : null) : opts.target,
  };
}

const code = (c: string) => (e: unknown) => e instanceof MeshgateError && e.code === c;

describe('endpoint registry and pools', () => {
  it('forms a pool only when every member has pooling enabled', () => {
    const r = new EndpointRegistry();
    const a = ep('https://foo.internal', { pooling: true });
    r.add(a);
    r.add(ep('https://foo.internal', { pooling: true }));
    assert.equal(r.poolOf(a).length, 2);
    assert.throws(() => r.add(ep('https://foo.internal', { pooling: false })), code('MG_POOL_CONFLICT'));
    const solo = new EndpointRegistry();
    solo.add(ep('https://bar.internal'));
    assert.throws(() => solo.add(ep('https://bar.internal', { pooling: true })), code('MG_POOL_CONFLICT'));
  });

  it('refuses members of another scheme on the same host and port', () => {
    const r = new EndpointRegistry();
    r.add(ep('https://foo.internal', { pooling: true }));
    assert.throws(() => r.add(ep('http://foo.internal:443', { pooling: true })), code('MG_POOL_SCHEME_MISMATCH'));
  });

  it('namespaces internal hosts per account but public hosts globally', () => {
    const r = new EndpointRegistry();
    r.add(ep('https://foo.internal', { account: 'a' }));
    r.add(ep('https://foo.internal', { account: 'b' }));
    assert.equal(r.lookupInternal('a', 'https', 'foo.internal', 443)!.members[0].account, 'a');
    assert.equal(r.lookupInternal('b', 'https', 'foo.internal', 443)!.members[0].account, 'b');
    assert.equal(r.lookupInternal('c', 'https', 'foo.internal', 443), undefined);
    r.add(ep('https://api.example.com', { account: 'a', pooling: true }));
    assert.throws(() => r.add(ep('https://api.example.com', { account: 'b', pooling: true })), (e: unknown) => code('MG_POOL_CONFLICT')(e) && /another account/.test((e as Error).message));
  });

  it('never serves internal endpoints from public lookups', () => {
    const r = new EndpointRegistry();
    r.add(ep('https://foo.internal'));
    assert.equal(r.lookupPublic('https', 'foo.internal'), undefined);
  });

  it('prefers the exact host, then the most specific wildcard, and matches only the listener scheme', () => {
    const r = new EndpointRegistry();
    const wild = ep('https://*.example.com');
    const wildSub = ep('https://*.api.example.com');
    const exact = ep('https://a.api.example.com');
    [wild, wildSub, exact].forEach((e) => r.add(e));
    assert.equal(r.lookupPublic('https', 'a.api.example.com')!.members[0], exact);
    assert.equal(r.lookupPublic('https', 'b.api.example.com')!.members[0], wildSub);
    assert.equal(r.lookupPublic('https', 'x.y.z.example.com')!.members[0], wild);
    assert.equal(r.lookupPublic('http', 'a.api.example.com'), undefined);
    assert.equal(r.lookupPublic('https', 'example.com'), undefined);
  });

  it('removes members at once and drops the pool with its last member', () => {
    const r = new EndpointRegistry();
    const a = ep('https://foo.internal', { pooling: true });
    const b = ep('https://foo.internal', { pooling: true });
    r.add(a);
    r.add(b);
    const snapshot = r.lookupInternal('acme', 'https', 'foo.internal', 443)!.members;
    r.remove(a.id);
    assert.deepEqual(r.lookupInternal('acme', 'https', 'foo.internal', 443)!.members, [b]);
    assert.equal(snapshot.length, 2, 'a request holding the old member list keeps it intact');
    r.remove(b.id);
    assert.equal(r.lookupInternal('acme', 'https', 'foo.internal', 443), undefined);
    assert.equal(r.remove(b.id), false);
    // A new endpoint may take the URL with pooling off once the pool is gone.
    r.add(ep('https://foo.internal'));
  });

  it('selects uniformly among usable members and skips closed or excluded ones', () => {
    const open = { open: true, sessionId: 's1' };
    const closed = { open: false, sessionId: 's2' };
    const members = [ep('https://p.internal', { pooling: true, target: open }), ep('https://p.internal', { pooling: true, target: open }), ep('https://p.internal', { pooling: true, target: closed })];
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const m = selectMember(members)!;
      counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
    }
    assert.equal(counts.get(members[2].id), undefined, 'a closed session never gets a request');
    for (const m of members.slice(0, 2)) assert.ok(Math.abs(counts.get(m.id)! - 1500) < 200, `uneven: ${[...counts]}`);
    assert.equal(selectMember(members, new Set([members[0].id, members[1].id])), undefined);
    assert.equal(selectMember([ep('https://c.internal', { type: 'cloud' })])!.type, 'cloud');
  });
});
