import type { EndpointUrl } from '../../core/endpoint-url.js';
import type { CompiledPolicy, PolicyEndpoint, PolicySecrets } from '../../policy/types.js';

/**
 * Where an agent endpoint's traffic goes: the tunnel session of the agent that registered it.
 * Implemented by the tunnel's AgentSession.
 */
export interface EndpointTarget {
  /** False once the session is closing or closed: the endpoint must not get new requests. */
  readonly open: boolean;
  readonly sessionId: string;
}

/** One online endpoint (agent or cloud) as the edge holds it. Immutable once registered. */
export interface Endpoint {
  readonly id: string;
  readonly account: string;
  readonly url: EndpointUrl;
  readonly type: 'agent' | 'cloud';
  readonly poolingEnabled: boolean;
  /** Compiled Traffic Policy, null when the endpoint has none. */
  readonly policy: CompiledPolicy | null;
  /** What CEL sees as `endpoint.*` when this endpoint's policy runs. */
  readonly view: PolicyEndpoint;
  readonly description: string;
  readonly metadata: string;
  /** Agent endpoints: where the agent forwards (for display). */
  readonly upstreamUrl: string;
  /** Region of the edge node holding it (cloud endpoints: present in every region). */
  readonly region: string;
  readonly nodeId: string;
  readonly createdAt: Date;
  /** Agent endpoints only: the tunnel session that serves it. */
  readonly target: EndpointTarget | null;
}

/** `secrets`: the vaults of the endpoint's account (edge.yaml), for `secrets.get`. */
export function policyView(id: string, u: EndpointUrl, type: 'agent' | 'cloud', poolingEnabled: boolean, secrets?: PolicySecrets): PolicyEndpoint {
  return Object.freeze({
    id,
    url: u.url,
    host: u.host,
    port: u.port,
    protocol: u.scheme,
    binding: u.binding,
    type,
    poolingEnabled,
    ...(secrets !== undefined ? { secrets } : {}),
  });
}
