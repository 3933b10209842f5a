/**
 * What the edge knows about one finished public request, handed to every request observer
 * (metrics, access events, the Traffic Inspector) after the response ended.
 */
import type { PolicyLogEntry } from '../../policy/types.js';
import type { Endpoint } from '../endpoints/endpoint.js';

/** One step of a policy run, recorded when an observer asks for decisions. */
export interface PolicyDecision {
  /** Endpoint whose policy ran. */
  endpointId: string;
  phase: 'on_http_request' | 'on_http_response';
  /** `rule`: a rule was evaluated (matched or not); `action`: an action ran. */
  kind: 'rule' | 'action';
  /** Path in the policy, e.g. `on_http_request[1]` or `on_http_request[1].actions[0]`. */
  path: string;
  /** Rule name or action type. */
  name: string;
  /** Rules only. */
  matched?: boolean;
}

/** The member of a pool that served the request (the first one hit, and the last after forward-internal hops). */
export interface ServedBy {
  id: string;
  url: string;
  type: 'agent' | 'cloud';
  region: string;
  nodeId: string;
}

export interface RequestRecord {
  id: string;
  /** When the request arrived (ms since the epoch). */
  startedAt: number;
  durationMs: number;
  method: string;
  scheme: 'http' | 'https';
  host: string;
  path: string;
  query: string;
  /** Status sent to the client (0 when the connection was closed without an answer). */
  status: number;
  /** meshgate error code when the gateway made the answer, else ''. */
  errorCode: string;
  /** Region of the edge that received the request. */
  region: string;
  clientIp: string;
  /** The public endpoint the request was addressed to (first member hit), if any. */
  entry: ServedBy | undefined;
  /** The member that produced the response (after forward-internal hops), if any. */
  served: ServedBy | undefined;
  /** Entries of `log` actions. */
  logs: PolicyLogEntry[];
  /** Rules and actions, when an observer asked for them. */
  decisions: PolicyDecision[] | undefined;
  /** W3C trace id when the request was traced, else ''. */
  traceId: string;
}

export function servedBy(ep: Endpoint): ServedBy {
  return { id: ep.id, url: ep.url.url, type: ep.type, region: ep.region, nodeId: ep.nodeId };
}
