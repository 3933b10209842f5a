/**
 * Access events: one JSON line per finished request, like ngrok's `http_request_complete.v0`
 * event, written to stdout, stderr or a file (edge.yaml `access_log`). Includes what the `log`
 * action attached (`traffic_policy.logs`), the endpoint the request was addressed to and the
 * member that answered.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { RequestObserver } from './request-observers.js';
import type { RequestRecord } from './request-record.js';

export class AccessLog implements RequestObserver {
  private readonly file: WriteStream | undefined;
  private readonly write: (line: string) => void;

  constructor(target: 'stdout' | 'stderr' | { file: string }) {
    if (target === 'stdout') this.write = (l) => process.stdout.write(l);
    else if (target === 'stderr') this.write = (l) => process.stderr.write(l);
    else {
      const f = createWriteStream(target.file, { flags: 'a' });
      this.file = f;
      this.write = (l) => f.write(l);
    }
  }

  finished(rec: RequestRecord): void {
    this.write(JSON.stringify(accessEvent(rec)) + '\n');
  }

  close(): Promise<void> {
    return new Promise((r) => (this.file ? this.file.end(() => r()) : r()));
  }
}

/** The event object (also what the inspector shows as a request's summary). */
export function accessEvent(rec: RequestRecord): Record<string, unknown> {
  return {
    event_type: 'http_request_complete.v0',
    time: new Date(rec.startedAt).toISOString(),
    id: rec.id,
    duration_ms: Math.round(rec.durationMs * 1000) / 1000,
    conn: { client_ip: rec.clientIp, server_region: rec.region },
    http: {
      request: { method: rec.method, url: `${rec.scheme}://${rec.host}${rec.path}${rec.query ? `?${rec.query}` : ''}` },
      response: { status_code: rec.status },
    },
    endpoint: rec.entry ? { id: rec.entry.id, url: rec.entry.url } : null,
    served_by: rec.served ? { id: rec.served.id, url: rec.served.url, type: rec.served.type, region: rec.served.region, node_id: rec.served.nodeId } : null,
    error_code: rec.errorCode || undefined,
    trace_id: rec.traceId || undefined,
    traffic_policy: { logs: rec.logs.map((l) => ({ endpoint_id: l.endpointId, phase: l.phase, action: l.action, metadata: l.metadata })) },
  };
}
