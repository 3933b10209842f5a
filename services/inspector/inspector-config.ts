/**
 * edge.yaml keys of the Traffic Inspector:
 *
 *   inspector:
 *     enabled: true                 # default: true when listen.admin or listen.console is set
 *     records_per_endpoint: 500     # requests kept per endpoint URL on this edge
 *     max_capture_bytes: 67108864   # headers + bodies kept by full capture on this edge, in bytes
 *   accounts:
 *     - name: acme
 *       inspect: {full: true, max_body_bytes: 10240}   # the account's default capture
 *
 * Memory bound of one edge: records_per_endpoint × endpoints × (~1 KiB of metadata) for
 * metadata, plus at most max_capture_bytes for headers and bodies (the oldest full captures are
 * dropped to metadata past it).
 */
import type { Checker, Path } from '../core/config.js';

/** Body bytes kept per request and per response with full capture, unless set (ngrok: 10 KB). */
export const DEFAULT_MAX_BODY_BYTES = 10_240;
/** The largest max_body_bytes accepted (1 MiB): a capture is for looking at, not for archiving. */
export const MAX_MAX_BODY_BYTES = 1 << 20;
/** Default ring size per endpoint URL. */
export const DEFAULT_RECORDS_PER_ENDPOINT = 500;
/** Default budget of full-capture bytes per edge (64 MiB). */
export const DEFAULT_MAX_CAPTURE_BYTES = 64 << 20;

export interface InspectorConfig {
  /** Capture at all; false = no observer, no InspectorService, no console page. */
  enabled: boolean;
  /** Records kept per endpoint URL (ring size), 1..100000. */
  recordsPerEndpoint: number;
  /** Bytes of captured headers and bodies kept on this edge, 0 (never full) .. 4 GiB. */
  maxCaptureBytes: number;
}

/** An account's capture default (edge.yaml accounts[].inspect). */
export interface AccountInspectConfig {
  full: boolean;
  /** Body bytes kept per request and per response, 0..1048576. */
  maxBodyBytes: number;
}

/** Reads `inspector:`; `enabledByDefault` when listen.admin or listen.console is set. */
export function readInspectorConfig(c: Checker, raw: unknown, enabledByDefault: boolean): InspectorConfig {
  const o = c.object(raw, ['inspector'], ['enabled', 'records_per_endpoint', 'max_capture_bytes'], false) ?? {};
  return {
    enabled: c.bool(o.enabled, ['inspector', 'enabled'], enabledByDefault),
    recordsPerEndpoint: integer(c, o.records_per_endpoint, ['inspector', 'records_per_endpoint'], 1, 100_000, DEFAULT_RECORDS_PER_ENDPOINT),
    maxCaptureBytes: integer(c, o.max_capture_bytes, ['inspector', 'max_capture_bytes'], 0, 2 ** 32, DEFAULT_MAX_CAPTURE_BYTES),
  };
}

/** Reads `accounts[i].inspect` (absent = undefined: the defaults apply). */
export function readAccountInspect(c: Checker, raw: unknown, path: Path): AccountInspectConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const p: Path = [...path, 'inspect'];
  const o = c.object(raw, p, ['full', 'max_body_bytes']);
  if (!o) return undefined;
  return {
    full: c.bool(o.full, [...p, 'full'], false),
    maxBodyBytes: integer(c, o.max_body_bytes, [...p, 'max_body_bytes'], 0, MAX_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
  };
}

function integer(c: Checker, v: unknown, path: Path, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    c.add(path, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return v;
}
