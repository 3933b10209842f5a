/**
 * OpenTelemetry tracing across processes: edges (jp, eu) joined by the mesh, an agent on eu,
 * a demo upstream that echoes the headers it got, and a real OTLP/HTTP receiver. One request
 * entering jp must give one trace holding spans of both edges and the agent, linked parent to
 * child, and the upstream must see a traceparent of that trace naming the agent's span.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { eventually, forwardingEdgeYaml, send, startAgent, startCluster, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { KIND, OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { exchange, freePorts, startEchoServer, tcpConnect } from '../helpers/l4.js';
import { meshgate, stopAll, tempFiles } from '../helpers/procs.js';
import { wsConnect } from '../helpers/ws-client.js';

/** Export every 50 ms instead of every 5 s, so tests wait little. */
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '50' };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

function parseTraceparent(v: unknown): { traceId: string; parentId: string; flags: string } {
  const m = TRACEPARENT.exec(String(v));
  assert.ok(m, `not a W3C traceparent: ${String(v)}`);
  return { traceId: m[1], parentId: m[2], flags: m[3] };
}

function one(spans: ReceivedSpan[], name: string, instance?: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name && (instance === undefined || s.resource['service.instance.id'] === instance));
  assert.equal(found.length, 1, `expected one '${name}' span${instance ? ` from ${instance}` : ''}, got ${found.length}: ${JSON.stringify(spans.map((s) => [s.resource['service.instance.id'], s.name]))}`);
  return found[0];
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('OpenTelemetry tracing', function () {
  this.timeout(90_000);
  let collector: OtlpReceiver;
  let upstreamPort: number;

  before(async () => {
    collector = await OtlpReceiver.start();
    upstreamPort = (await startUpstream('foo-up')).port;
  });
  after(async () => {
    await stopAll();
    await collector?.close();
  });

  describe('across edges (request entering jp, agent on eu)', () => {
    let edges: Record<string, EdgeHandle & { peer: string }>;
    let agentSession: string;
    let endpointId: string;

    before(async () => {
      // the edges from edge.yaml (http/json), the agent from OTEL_* variables
      const telemetry = `telemetry:\n  traces: {endpoint: "${collector.url}", protocol: http/json}\naccess_log: stdout\n`;
      edges = await startCluster(['eu', 'jp'], telemetry, FAST_EXPORT);
      const agent = await startAgent('agent-foo-eu', {
        upstreamPort,
        url: 'https://foo.internal',
        edge: edges.eu,
        authtoken: 'tok_acme',
        env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      });
      agentSession = agent.ready.session;
      endpointId = agent.ready.endpoints[0].id;
      await eventually('jp reaches the agent on eu', async () => (await send(edges.jp.http, 'api.example.com', '/get')).status === 200, 15_000, 50);
    });

    it('exports one trace with spans from the jp edge, the eu edge and the agent, linked parent to child', async () => {
      const r = await send(edges.jp.http, 'api.example.com', '/headers');
      assert.equal(r.status, 200, r.text);
      const seen = parseTraceparent(r.json().headers.traceparent);
      assert.equal(seen.flags, '01');
      await collector.waitFor('six spans of the trace', () => collector.trace(seen.traceId).length >= 6);
      const spans = collector.trace(seen.traceId);

      const ingress = one(spans, 'ingress GET', 'jp-1');
      assert.equal(ingress.parentSpanId, '', 'the ingress span is the root');
      assert.equal(ingress.kind, KIND.server);
      assert.deepEqual(ingress.resource['service.name'], 'meshgate-edge');
      assert.equal(ingress.resource['meshgate.region'], 'jp');
      assert.equal(ingress.attributes['http.request.method'], 'GET');
      assert.equal(ingress.attributes['url.path'], '/headers');
      assert.equal(ingress.attributes['server.address'], 'api.example.com');
      assert.equal(ingress.attributes['http.response.status_code'], 200);

      const policy = one(spans, 'policy on_http_request', 'jp-1');
      assert.equal(policy.parentSpanId, ingress.spanId);
      assert.equal(policy.attributes['meshgate.endpoint.url'], 'http://api.example.com');
      assert.equal(policy.attributes['meshgate.endpoint.node'], undefined, 'a cloud endpoint is served here: the node is the span resource');
      assert.deepEqual(policy.attributes['meshgate.policy.rules_matched'], ['on_http_request[0]']);
      assert.deepEqual(policy.attributes['meshgate.policy.actions'], ['forward-internal']);

      const relaySend = one(spans, 'relay send', 'jp-1');
      assert.equal(relaySend.parentSpanId, policy.spanId);
      assert.equal(relaySend.kind, KIND.client);
      // the pool member chosen: its id, region and node
      assert.equal(relaySend.attributes['meshgate.endpoint.id'], endpointId);
      assert.equal(relaySend.attributes['meshgate.endpoint.url'], 'https://foo.internal');
      assert.equal(relaySend.attributes['meshgate.endpoint.region'], 'eu');
      assert.equal(relaySend.attributes['meshgate.endpoint.node'], 'eu-1');
      assert.equal(relaySend.attributes['meshgate.pool.size'], 1);
      assert.equal(relaySend.attributes['meshgate.pool.attempt'], undefined, 'only a retry records its attempt');

      const relayReceive = one(spans, 'relay receive', 'eu-1');
      assert.equal(relayReceive.parentSpanId, relaySend.spanId);
      assert.equal(relayReceive.kind, KIND.server);
      assert.equal(relayReceive.resource['meshgate.region'], 'eu');
      assert.equal(relayReceive.attributes['http.response.status_code'], 200);

      const tunnel = one(spans, 'tunnel send', 'eu-1');
      assert.equal(tunnel.parentSpanId, relayReceive.spanId);
      assert.equal(tunnel.kind, KIND.client);

      const upstream = one(spans, 'upstream GET');
      assert.equal(upstream.parentSpanId, tunnel.spanId);
      assert.equal(upstream.kind, KIND.client);
      assert.equal(upstream.resource['service.name'], 'meshgate-agent');
      assert.equal(upstream.resource['service.instance.id'], agentSession);
      assert.equal(upstream.resource['meshgate.region'], 'eu');
      assert.equal(upstream.attributes['server.port'], upstreamPort);
      assert.equal(upstream.attributes['http.response.status_code'], 200);
      // the upstream's traceparent names the agent's client span
      assert.equal(seen.parentId, upstream.spanId);
      assert.equal(spans.length, 6, JSON.stringify(spans.map((s) => s.name)));
      assert.deepEqual(collector.errors, []);
      // the access event of the request names the same trace, so logs and traces can be joined
      await eventually('the access event with the trace id', async () => edges.jp.proc.stdout.some((l) => l.includes(`"trace_id":"${seen.traceId}"`)), 5_000);
      const event = JSON.parse(edges.jp.proc.stdout.find((l) => l.includes(`"trace_id":"${seen.traceId}"`))!) as { event_type?: string; http?: { request?: { url?: string } } };
      assert.deepEqual([event.event_type, event.http?.request?.url], ['http_request_complete.v0', 'http://api.example.com/headers']);
    });

    it('traces a WebSocket upgrade across both edges and the agent, and the upstream sees the agent span', async () => {
      const ws = await wsConnect(edges.jp.http, 'api.example.com', '/ws');
      assert.equal(ws.status, 101, ws.headers);
      ws.send('traced session');
      assert.equal(await ws.next(), 'traced session');
      const seen = parseTraceparent(/^x-seen-traceparent: (.+)$/im.exec(ws.headers)?.[1]?.trim());
      ws.close();
      // the session's spans end when it does: the client leaves, the upstream closes its side too
      await collector.waitFor('six spans of the WebSocket trace', () => collector.trace(seen.traceId).length >= 6, 10_000);
      const spans = collector.trace(seen.traceId);
      const ingress = one(spans, 'ingress GET', 'jp-1');
      assert.equal(ingress.attributes['url.path'], '/ws');
      assert.equal(ingress.attributes['http.response.status_code'], 101);
      assert.equal(ingress.statusCode, 0);
      const relaySend = one(spans, 'relay send', 'jp-1');
      const relayReceive = one(spans, 'relay receive', 'eu-1');
      const tunnel = one(spans, 'tunnel send', 'eu-1');
      const upstream = one(spans, 'upstream GET');
      assert.deepEqual([relayReceive.parentSpanId, tunnel.parentSpanId, upstream.parentSpanId], [relaySend.spanId, relayReceive.spanId, tunnel.spanId]);
      for (const s of [relaySend, relayReceive, tunnel, upstream]) {
        assert.equal(s.attributes['http.response.status_code'], 101, s.name);
        assert.equal(s.statusCode, 0, `${s.name}: a session that ends is not an error`);
      }
      assert.equal(seen.parentId, upstream.spanId);
    });

    it("continues a client's traceparent (same trace id, tracestate kept) instead of starting a new trace", async () => {
      const traceId = hex(16);
      const parentId = hex(8);
      const r = await send(edges.jp.http, 'api.example.com', '/headers', { headers: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'acme=t61rcWkgMzE' } });
      assert.equal(r.status, 200, r.text);
      const seen = parseTraceparent(r.json().headers.traceparent);
      assert.equal(seen.traceId, traceId);
      assert.notEqual(seen.parentId, parentId, 'the upstream is called by the agent span, not by the client');
      assert.equal(r.json().headers.tracestate, 'acme=t61rcWkgMzE');
      await collector.waitFor('the continued trace', () => collector.trace(traceId).length >= 6);
      const ingress = one(collector.trace(traceId), 'ingress GET', 'jp-1');
      assert.equal(ingress.parentSpanId, parentId);
      assert.equal(ingress.traceState, 'acme=t61rcWkgMzE');
    });

    it('marks a 5xx answer as an error on the ingress and upstream spans', async () => {
      const r = await send(edges.jp.http, 'api.example.com', '/status/503');
      assert.equal(r.status, 503);
      await collector.waitFor('the 503 trace', () => collector.spans.some((s) => s.name === 'ingress GET' && s.attributes['url.path'] === '/status/503'));
      const ingress = collector.spans.find((s) => s.name === 'ingress GET' && s.attributes['url.path'] === '/status/503')!;
      await collector.waitFor('the 503 upstream span', () => collector.trace(ingress.traceId).some((s) => s.name === 'upstream GET'));
      assert.equal(ingress.attributes['http.response.status_code'], 503);
      assert.equal(ingress.statusCode, 2, 'a 5xx answer is an error on the server span');
      assert.equal(one(collector.trace(ingress.traceId), 'upstream GET').statusCode, 2);
    });
  });

  describe('tcp endpoints', () => {
    it('traces a client connection: connect tcp, its on_tcp_connect phase, the tunnel and the agent\'s upstream connect', async () => {
      const [port] = await freePorts(1);
      const echo = await startEchoServer();
      try {
        const env = { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url };
        const edge = await startEdge(
          `region: eu\nnode_id: eu-tcp\nlisten: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", tcp_ports: "${port}"}\naccounts: [{name: acme, authtokens: [tok_acme]}]\n`,
          {},
          'edge-tcp',
          env,
        );
        const policy = tempFiles({ 'p.yml': 'on_tcp_connect:\n  - actions: [{type: log, config: {metadata: {db: main}}}]\n' });
        await meshgate('agent-tcp', ['agent', 'tcp', String(echo.port), '--url', `tcp://db.example.com:${port}`, '--edge', edge.tunnel, '--authtoken', 'tok_acme', '--traffic-policy-file', join(policy, 'p.yml')], { env }).ready();
        const r = await exchange(await tcpConnect(port), 'traced bytes');
        assert.equal(r.data.toString(), 'traced bytes');
        await collector.waitFor('the spans of the connection', () => collector.spans.some((s) => s.name === 'upstream connect' && collector.trace(s.traceId).length >= 4), 10_000);
        const spans = collector.trace(collector.spans.find((s) => s.name === 'upstream connect')!.traceId);
        const root = one(spans, 'connect tcp', 'eu-tcp');
        assert.equal(root.parentSpanId, '');
        assert.deepEqual([root.attributes['server.port'], root.attributes['client.address'], root.statusCode], [port, '127.0.0.1', 0]);
        const phase = one(spans, 'policy on_tcp_connect', 'eu-tcp');
        assert.equal(phase.parentSpanId, root.spanId);
        assert.deepEqual(phase.attributes['meshgate.policy.actions'], ['log']);
        // the phase let the connection pass: the agent endpoint's stream opens after it, under the connection
        const tunnel = one(spans, 'tunnel send', 'eu-tcp');
        assert.equal(tunnel.parentSpanId, root.spanId);
        assert.ok(tunnel.startMs >= phase.endMs);
        const upstream = one(spans, 'upstream connect');
        assert.equal(upstream.parentSpanId, tunnel.spanId);
        assert.deepEqual([upstream.attributes['server.port'], upstream.statusCode, upstream.resource['service.name']], [echo.port, 0, 'meshgate-agent']);
      } finally {
        await echo.close();
      }
    });
  });

  describe('sampling off (sample_ratio: 0) and http/protobuf', () => {
    let edge: EdgeHandle;
    let nodeId: string;

    before(async () => {
      // edge.yaml says http/json; OTEL_EXPORTER_OTLP_PROTOCOL wins: the environment overrides the file
      const yaml = `${forwardingEdgeYaml('https://foo.internal')}\ntelemetry:\n  traces: {endpoint: "${collector.url}", protocol: http/json, sample_ratio: 0}\n`;
      edge = await startEdge(yaml, {}, 'edge-unsampled', { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
      nodeId = edge.proc.logs().find((l) => l.msg === 'ready')!.node;
      await startAgent('agent-unsampled', {
        upstreamPort,
        url: 'https://foo.internal',
        edge,
        authtoken: 'tok_acme',
        env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
      });
    });

    it('exports nothing for a request it does not sample, yet still propagates a traceparent', async () => {
      const r = await send(edge.http, 'api.example.com', '/headers');
      assert.equal(r.status, 200, r.text);
      const unsampled = parseTraceparent(r.json().headers.traceparent);
      assert.equal(unsampled.flags, '00', 'not sampled');
      // A request its caller sampled is recorded (parent-based): once its spans are in, the
      // batches holding anything of the first request would have arrived too.
      const traceId = hex(16);
      const sampled = await send(edge.http, 'api.example.com', '/headers', { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
      assert.equal(parseTraceparent(sampled.json().headers.traceparent).flags, '01');
      await collector.waitFor('the sampled trace from the edge and the agent', () => collector.trace(traceId).length >= 4);
      assert.deepEqual(collector.trace(unsampled.traceId), []);
      // the unsampled request reached nobody's exporter, the edge's or the agent's
      assert.ok(!collector.spans.some((s) => s.resource['service.instance.id'] === nodeId && s.attributes['url.path'] === '/headers' && s.traceId !== traceId));
    });

    it('exports over http/protobuf when OTEL_EXPORTER_OTLP_PROTOCOL says so, with the same spans', async () => {
      const traceId = hex(16);
      await send(edge.http, 'api.example.com', '/get', { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
      await collector.waitFor('the protobuf trace', () => collector.trace(traceId).length >= 4);
      const spans = collector.trace(traceId);
      for (const s of spans) assert.equal(s.via, 'application/x-protobuf', `${s.name} came as ${s.via}`);
      const ingress = one(spans, 'ingress GET', nodeId);
      const policy = one(spans, 'policy on_http_request', nodeId);
      const tunnel = one(spans, 'tunnel send', nodeId);
      const upstream = one(spans, 'upstream GET');
      assert.equal(policy.parentSpanId, ingress.spanId);
      assert.equal(tunnel.parentSpanId, policy.spanId);
      assert.equal(upstream.parentSpanId, tunnel.spanId);
      assert.equal(tunnel.attributes['meshgate.endpoint.url'], 'https://foo.internal', 'the member chosen (no policy of its own) is named on the tunnel span');
      assert.equal(tunnel.attributes['meshgate.endpoint.node'], undefined, 'a member on this edge: its node is the span resource');
      assert.equal(tunnel.resource['service.instance.id'], nodeId);
      assert.equal(ingress.resource['service.name'], 'meshgate-edge');
      assert.equal(upstream.resource['service.name'], 'meshgate-agent');
      assert.deepEqual(policy.attributes['meshgate.policy.actions'], ['forward-internal']);
    });
  });

  describe('tracing off (the default)', () => {
    let edge: EdgeHandle;

    before(async () => {
      edge = await startEdge(forwardingEdgeYaml('https://foo.internal'), {}, 'edge-untraced');
      await startAgent('agent-untraced', { upstreamPort, url: 'https://foo.internal', edge, authtoken: 'tok_acme' });
    });

    it("passes a client's traceparent and tracestate to the upstream unchanged", async () => {
      const traceparent = `00-${hex(16)}-${hex(8)}-01`;
      const r = await send(edge.http, 'api.example.com', '/headers', { headers: { traceparent, tracestate: 'acme=1' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json().headers.traceparent, traceparent);
      assert.equal(r.json().headers.tracestate, 'acme=1');
      assert.ok(!edge.proc.logs().some((l) => l.msg === 'tracing on'));
    });

    it('adds no traceparent of its own', async () => {
      const r = await send(edge.http, 'api.example.com', '/headers');
      assert.equal(r.json().headers.traceparent, undefined);
    });
  });
});
