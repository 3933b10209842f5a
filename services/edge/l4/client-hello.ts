/*
 * Reading the server name (SNI) from a TLS ClientHello without terminating TLS, so tls://
 * endpoints can be routed (and passed through untouched) by the name the client asked for.
 *
 * Wire format (RFC 8446 §4.1.2, RFC 6066 §3), all lengths big-endian:
 *   record     type=22 (handshake) | version(2) | length(2, ≤ 2^14) | fragment
 *   handshake  type=1 (ClientHello) | length(3) | body      — may span several records
 *   body       version(2) | random(32) | session_id<0..32> | cipher_suites<2..2^16-2>
 *              | compression_methods<1..2^8-1> | extensions<0..2^16-1>
 *   extension  type(2) | length(2) | data;  server_name (type 0) data:
 *              list length(2) | { name_type(1)=0 host_name | length(2) | name }...
 *
 * The parser is pure and bounded: it looks only at the bytes given, says `incomplete` until the
 * whole ClientHello is there, and refuses anything that is not one (wrong record type, bad
 * lengths, a message larger than MAX_CLIENT_HELLO). The reader gives a client 3 s (ngrok's
 * ClientHello timeout) and keeps every byte it read, so the caller can replay them upstream.
 */
import type { Socket } from 'node:net';
import { MeshgateError } from '../../core/errors.js';

/** Largest ClientHello accepted (handshake body bytes); real ones are well under 4 KiB. */
export const MAX_CLIENT_HELLO = 32 * 1024;
/** ngrok: "TLS ClientHello 3 s". */
export const CLIENT_HELLO_TIMEOUT_MS = 3_000;

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const MAX_RECORD = 1 << 14;

export type ClientHelloResult =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  /** `sni` is undefined when the client sent no server_name; `bytes` = record bytes the ClientHello used. */
  | { status: 'ok'; sni: string | undefined; bytes: number };

/** Parses the ClientHello at the start of `buf` (the first bytes a client sent). */
export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  // 1. Collect the handshake message from consecutive handshake records.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  for (;;) {
    if (buf.length < off + 5) return { status: 'incomplete' };
    if (buf[off] !== RECORD_HANDSHAKE) return { status: 'invalid', reason: off === 0 ? 'not a TLS handshake record' : 'the ClientHello is interrupted by another record type' };
    if (buf[off + 1] !== 3) return { status: 'invalid', reason: 'unknown TLS record version' };
    const len = (buf[off + 3] << 8) | buf[off + 4];
    if (len === 0 || len > MAX_RECORD) return { status: 'invalid', reason: `bad TLS record length ${len}` };
    const end = Math.min(off + 5 + len, buf.length);
    parts.push(buf.subarray(off + 5, end));
    have += end - (off + 5);
    if (need < 0 && have >= 4) {
      const head = concat(parts, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return { status: 'invalid', reason: 'the first handshake message is not a ClientHello' };
      need = 4 + ((head[1] << 16) | (head[2] << 8) | head[3]);
      if (need - 4 > MAX_CLIENT_HELLO) return { status: 'invalid', reason: `a ClientHello of ${need - 4} bytes is larger than ${MAX_CLIENT_HELLO}` };
    }
    const whole = end === off + 5 + len;
    off = end;
    if (need >= 0 && have >= need) break;
    if (!whole) return { status: 'incomplete' };
  }
  const msg = concat(parts, need);
  const sni = readServerName(msg.subarray(4));
  if (typeof sni === 'object') return { status: 'invalid', reason: sni.reason };
  return { status: 'ok', sni, bytes: off };
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1 || parts[0].length >= n) return parts[0].subarray(0, n);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
    if (o === n) break;
  }
  return out;
}

/** The host_name of the server_name extension of a ClientHello body; undefined when absent. */
function readServerName(b: Uint8Array): string | undefined | { reason: string } {
  const bad = (what: string) => ({ reason: `malformed ClientHello: ${what}` });
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return bad('truncated before the session id');
  p += 1 + b[p]; // session_id
  if (b.length < p + 2) return bad('truncated before the cipher suites');
  const suites = (b[p] << 8) | b[p + 1];
  if (suites < 2 || suites % 2 !== 0) return bad('bad cipher suites length');
  p += 2 + suites;
  if (b.length < p + 1) return bad('truncated before the compression methods');
  p += 1 + b[p];
  if (p > b.length) return bad('truncated compression methods');
  if (p === b.length) return undefined; // no extensions at all
  if (b.length < p + 2) return bad('truncated extensions length');
  const extEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  if (extEnd !== b.length) return bad('extensions length does not match the message');
  p += 2;
  while (p < extEnd) {
    if (extEnd < p + 4) return bad('truncated extension header');
    const type = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    p += 4;
    if (extEnd < p + len) return bad('extension longer than the message');
    if (type === EXT_SERVER_NAME) return hostName(b.subarray(p, p + len));
    p += len;
  }
  return undefined;
}

function hostName(d: Uint8Array): string | undefined | { reason: string } {
  if (d.length < 2 || ((d[0] << 8) | d[1]) !== d.length - 2) return { reason: 'malformed server_name extension' };
  let p = 2;
  while (p < d.length) {
    if (d.length < p + 3) return { reason: 'malformed server_name entry' };
    const type = d[p];
    const len = (d[p + 1] << 8) | d[p + 2];
    p += 3;
    if (d.length < p + len) return { reason: 'malformed server_name entry' };
    if (type === 0) {
      if (len === 0 || len > 255) return { reason: `server name of ${len} bytes` };
      let name = '';
      for (let i = p; i < p + len; i++) {
        const ch = d[i];
        // host names are LDH ASCII (RFC 6066: no trailing dot); be lenient about '_'
        if (!((ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a) || ch === 0x2d || ch === 0x2e || ch === 0x5f)) {
          return { reason: 'the server name is not a host name' };
        }
        name += String.fromCharCode(ch);
      }
      return name.toLowerCase().replace(/\.$/, '');
    }
    p += len;
  }
  return undefined;
}

export interface ClientHello {
  /** Lower-case server name the client asked for. */
  sni: string;
  /** Every byte read from the socket so far (the ClientHello and anything after it), to replay. */
  bytes: Buffer;
}

/**
 * Reads a ClientHello from a fresh (paused) socket. Resolves with the SNI and the bytes read, the
 * socket paused again; rejects with MG_TLS_CLIENT_HELLO_INVALID (no ClientHello within
 * `timeoutMs`, not TLS, no SNI, or the client went away).
 */
export function readClientHello(socket: Socket, timeoutMs = CLIENT_HELLO_TIMEOUT_MS): Promise<ClientHello> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: string | null, sni?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (err !== null) reject(new MeshgateError('MG_TLS_CLIENT_HELLO_INVALID', { detail: err }));
      else resolve({ sni: sni!, bytes: buf });
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseClientHello(buf);
      if (r.status === 'incomplete') {
        if (buf.length > MAX_CLIENT_HELLO + 1024) done('the ClientHello is too large');
        return;
      }
      if (r.status === 'invalid') return done(r.reason);
      if (r.sni === undefined) return done('the ClientHello names no server (SNI); tls endpoints are routed by it');
      done(null, r.sni);
    };
    const onEnd = () => done('the client closed the connection before its ClientHello');
    const timer = setTimeout(() => done(`no ClientHello within ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.resume();
  });
}
