import assert from 'node:assert/strict';
import type { EndpointRecord, NodeInfo } from '../../services/gen/peer.js';
import { PresenceTable } from '../../services/presence/presence-table.js';
import { PROFILES } from '../../services/presence/profiles.js';

const node = (id: string, incarnation = 1): NodeInfo => ({ nodeId: id, region: id.split('-')[0], peerAddr: '127.0.0.1:1', relayAddr: '127.0.0.1:2', incarnation });
const rec = (id: string, url = `https://${id}.internal`): EndpointRecord => ({ id, account: 'acme', url, poolingEnabled: true, trafficPolicy: '', upstreamUrl: '', description: '', metadata: '', createdAtMs: 1 });

function harness() {
  let t = 0;
  const log: string[] = [];
  const table = new PresenceTable('eu-1', PROFILES.local, {
    upsert: (n, r) => log.push(`+${n.nodeId}/${r.id}`),
    remove: (n, id) => log.push(`-${n.nodeId}/${id}`),
    wantSnapshot: (o) => log.push(`?${o}`),
    nodeState: (n, s) => log.push(`${s}:${n.nodeId}`),
  }, () => t);
  return { table, log, advance: (ms: number) => (t += ms) };
}

const ids = (table: PresenceTable, n: string) => [...(table.node(n)?.endpoints.keys() ?? [])].sort();

describe('presence table merge', () => {
  it('applies a snapshot, then deltas in sequence', () => {
    const { table, log } = harness();
    table.onSnapshot({ origin: node('us-1'), seq: 1, endpoints: [rec('a')] }, 'grpc');
    table.onDelta({ origin: node('us-1'), seq: 2, upserts: [rec('b')], removes: ['a'] }, 'grpc');
    assert.deepEqual(ids(table, 'us-1'), ['b']);
    assert.deepEqual(log, ['+us-1/a', '-us-1/a', '+us-1/b']);
  });

  it('ignores duplicates and replays delivered by the other channel, whatever the interleaving', () => {
    const { table, log } = harness();
    const s = { origin: node('us-1'), seq: 1, endpoints: [rec('a')] };
    const d2 = { origin: node('us-1'), seq: 2, upserts: [rec('b')], removes: [] };
    const d3 = { origin: node('us-1'), seq: 3, upserts: [], removes: ['a'] };
    table.onSnapshot(s, 'grpc');
    table.onDelta(d2, 'redis');
    table.onDelta(d2, 'grpc');
    table.onSnapshot(s, 'redis');
    table.onDelta(d3, 'grpc');
    table.onDelta(d3, 'redis');
    table.onDelta(d2, 'redis');
    assert.deepEqual(ids(table, 'us-1'), ['b']);
    assert.equal(log.filter((l) => l.startsWith('+') || l.startsWith('-')).length, 3);
  });

  it('asks for a snapshot on a gap instead of applying out of order', () => {
    const { table, log } = harness();
    table.onSnapshot({ origin: node('us-1'), seq: 1, endpoints: [] }, 'redis');
    table.onDelta({ origin: node('us-1'), seq: 3, upserts: [rec('x')], removes: [] }, 'redis');
    assert.deepEqual(ids(table, 'us-1'), []);
    assert.ok(log.includes('?us-1'));
  });

  it('replaces the whole state when the node restarts with a higher incarnation', () => {
    const { table, log } = harness();
    table.onSnapshot({ origin: node('us-1', 1), seq: 9, endpoints: [rec('old')] }, 'grpc');
    table.onSnapshot({ origin: node('us-1', 2), seq: 1, endpoints: [rec('new')] }, 'grpc');
    assert.deepEqual(ids(table, 'us-1'), ['new']);
    // A late message from the old incarnation changes nothing.
    table.onDelta({ origin: node('us-1', 1), seq: 10, upserts: [rec('zombie')], removes: [] }, 'redis');
    table.onSnapshot({ origin: node('us-1', 1), seq: 11, endpoints: [rec('zombie')] }, 'redis');
    assert.deepEqual(ids(table, 'us-1'), ['new']);
    assert.ok(log.includes('-us-1/old'));
  });

  it('asks for a snapshot when a heartbeat shows state it does not hold', () => {
    const { table, log } = harness();
    table.onHeartbeat({ origin: node('jp-1'), seq: 4, sentAtMs: 0, echoMs: 0 }, 'grpc');
    assert.deepEqual(log, ['?jp-1']);
  });

  it('ignores its own messages', () => {
    const { table, log } = harness();
    table.onSnapshot({ origin: node('eu-1'), seq: 1, endpoints: [rec('mine')] }, 'redis');
    assert.equal(table.size, 0);
    assert.deepEqual(log, []);
  });
});

describe('presence table liveness', () => {
  it('suspects a silent node, then removes its endpoints after deadAfterMs', () => {
    const { table, log, advance } = harness();
    table.onSnapshot({ origin: node('us-1'), seq: 1, endpoints: [rec('a'), rec('b')] }, 'grpc');
    for (let t = 0; t < PROFILES.local.suspectAfterMs; t += PROFILES.local.heartbeatMs) {
      advance(PROFILES.local.heartbeatMs);
      table.sweep();
    }
    assert.ok(log.includes('suspect:us-1'));
    assert.equal(table.size, 2, 'suspected, not yet removed');
    for (let t = PROFILES.local.suspectAfterMs; t < PROFILES.local.deadAfterMs; t += PROFILES.local.heartbeatMs) {
      advance(PROFILES.local.heartbeatMs);
      table.sweep();
    }
    assert.equal(table.size, 0);
    assert.ok(log.includes('-us-1/a') && log.includes('dead:us-1'));
  });

  it('keeps a node alive while either channel hears it', () => {
    const { table, advance } = harness();
    table.onSnapshot({ origin: node('us-1'), seq: 1, endpoints: [rec('a')] }, 'grpc');
    for (let i = 0; i < 40; i++) {
      advance(PROFILES.local.heartbeatMs);
      table.onHeartbeat({ origin: node('us-1'), seq: 1, sentAtMs: 0, echoMs: 0 }, 'redis');
      table.sweep();
    }
    assert.equal(table.size, 1);
  });

  it('does not declare peers dead because it was itself paused', () => {
    const { table, log, advance } = harness();
    table.onSnapshot({ origin: node('us-1'), seq: 1, endpoints: [rec('a')] }, 'grpc');
    advance(PROFILES.local.deadAfterMs * 3); // our event loop stalled (e.g. SIGSTOP)
    table.sweep();
    assert.equal(table.size, 1);
    assert.ok(!log.some((l) => l.startsWith('dead')));
  });
});
