/**
 * The span and attribute vocabulary of meshgate traces, in one place (README "Tracing" lists
 * the same). Span names are low-cardinality; what varies goes into attributes.
 *
 * One request entering edge jp, served by an agent on edge eu:
 *
 *   meshgate-edge jp   ingress GET                 SERVER  the client's request
 *                        policy on_http_request    INTERNAL each phase run (meshgate.endpoint.* = the endpoint whose policy it is)
 *                          relay send              CLIENT   to the edge holding the chosen member (meshgate.endpoint.* = that member)
 *   meshgate-edge eu       relay receive           SERVER
 *                            tunnel send           CLIENT   the stream to the agent
 *   meshgate-agent             upstream GET        CLIENT   the agent's request to its upstream (whose traceparent names this span)
 *
 * With the agent on the receiving edge, `tunnel send` is a child of the phase span directly.
 * The chosen pool member is recorded as `meshgate.endpoint.*` attributes on the first span
 * opened for it (its request phase, else its tunnel/relay span): a span of its own per
 * selection would double the spans of the common path for no extra timing information.
 */

export const SPAN = {
  /** + the HTTP method: `ingress GET`. */
  ingress: 'ingress',
  /** + the phase: `policy on_http_request`. */
  policy: 'policy',
  relaySend: 'relay send',
  relayReceive: 'relay receive',
  tunnelSend: 'tunnel send',
  /** + the HTTP method: `upstream GET`. */
  upstream: 'upstream',
  /** + tcp or tls: `connect tcp`, a client connection of a tcp/tls endpoint. */
  connect: 'connect',
  /** The agent's connection to a tcp/tls upstream. */
  upstreamConnect: 'upstream connect',
  /** + the HTTP method: `replay GET`, the root of a Traffic Inspector replay. */
  replay: 'replay',
} as const;

/** Attribute keys: OpenTelemetry semantic conventions where one fits, `meshgate.*` otherwise. */
export const ATTR = {
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  urlPath: 'url.path',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  clientAddress: 'client.address',
  networkTransport: 'network.transport',
  /** The gateway's own error code (`meshgate-error-code`), when it answered with one. */
  errorCode: 'meshgate.error.code',
  endpointId: 'meshgate.endpoint.id',
  endpointUrl: 'meshgate.endpoint.url',
  /** Region and node of the edge holding the endpoint, when that is another edge (else: the span's resource). */
  endpointRegion: 'meshgate.endpoint.region',
  endpointNode: 'meshgate.endpoint.node',
  /** Members of the pool the endpoint was chosen from, and which try this was (only from the second). */
  poolSize: 'meshgate.pool.size',
  attempt: 'meshgate.pool.attempt',
  rulesMatched: 'meshgate.policy.rules_matched',
  actions: 'meshgate.policy.actions',
  /** On a replay's root span: the id of the captured request it replays. */
  replayOf: 'meshgate.replay_of',
  /** Resource: the region label of the edge (for an agent, of the edge it is connected to). */
  region: 'meshgate.region',
  /** Resource of an agent: the node id of its edge. */
  edgeNode: 'meshgate.edge.node',
} as const;

export const SERVICE = { edge: 'meshgate-edge', agent: 'meshgate-agent' } as const;
