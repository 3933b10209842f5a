/**
 * `restrict-ips`: allow or deny by the client's IP address (`conn.client_ip`: the L4 source,
 * never X-Forwarded-For). Continues when allowed; answers 403 when denied.
 *
 * Config: `allow`, `deny` (lists of CIDRs, `${}` interpolated, at most 64 each; at least one of
 * them non-empty). A bare address counts as a single-host CIDR (/32, /128; meshgate extension).
 * A value that is exactly `${expr}` may evaluate to a list of CIDRs. Static CIDRs are checked at
 * load; an interpolated value that is not a CIDR is a policy runtime error (fail closed).
 * `enforce` (default true): false only sets the result variables. `ip_policies` (ngrok `ipp_`
 * ids) is not supported: meshgate has no IP policy objects.
 *
 * Decision (ngrok): allowed iff the IP matches no `deny` CIDR and, when `allow` is given, at
 * least one `allow` CIDR. IPv4-mapped IPv6 client addresses (::ffff:a.b.c.d) are matched as IPv4.
 *
 * Denied and enforced → synthetic 403 (JSON body), `meshgate-error-code: MG_IP_RESTRICTED`.
 * Result: `actions.ngrok.restrict_ips.{action: 'allow'|'deny', matched_cidr}` (matched_cidr: the
 * deny CIDR that matched, else the allow CIDR that matched, else '').
 */
import type { ErrorCode } from '../../core/errors.js';
import { BlockList, isIP } from 'node:net';
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { registerAction, type ActionDefinition, type ActionRunContext } from './registry.js';
import { readBool, readTemplateList, rejection } from './util.js';

export const IP_RESTRICTED: ErrorCode = 'MG_IP_RESTRICTED';
const MAX_CIDRS = 64;

/** A parsed CIDR: its text and a one-subnet BlockList that matches it. */
export interface Cidr {
  readonly text: string;
  readonly list: BlockList;
}

type CidrSource = { kind: 'static'; cidr: Cidr } | { kind: 'dynamic'; t: Template; label: string };

interface RestrictIpsConfig {
  readonly allow: readonly CidrSource[];
  readonly deny: readonly CidrSource[];
  readonly enforce: boolean;
}

/** Parses `a.b.c.d/n`, `x::y/n`, or a bare address; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  const list = new BlockList();
  list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return { text: slash < 0 ? `${addr}/${max}` : s, list };
}

/** Whether `ip` is in `cidr` (IPv4-mapped IPv6 addresses are matched as IPv4). */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  let a = ip;
  if (a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  const family = isIP(a);
  if (family === 0) return false;
  return cidr.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

function readCidrs(config: Record<string, unknown>, key: 'allow' | 'deny', cx: Parameters<ActionDefinition<unknown>['compile']>[1]): CidrSource[] | undefined {
  const list = readTemplateList(config, key, cx, { min: 0, max: MAX_CIDRS, what: 'CIDRs' });
  if (!list) return undefined;
  let ok = true;
  const out: CidrSource[] = [];
  list.forEach((t, i) => {
    const path = `${key}[${i}]`;
    if (!t.isStatic) {
      out.push({ kind: 'dynamic', t, label: `${cx.path}.${path}` });
      return;
    }
    const cidr = parseCidr(t.staticValue);
    if (!cidr) {
      cx.issue(path, `'${t.staticValue}' is not a CIDR (e.g. 192.0.2.0/24 or 2001:db8::/32)`);
      ok = false;
    } else out.push({ kind: 'static', cidr });
  });
  return ok ? out : undefined;
}

export const restrictIps: ActionDefinition<RestrictIpsConfig> = {
  phases: ['on_tcp_connect', 'on_http_request', 'on_http_response'],
  fields: ['allow', 'deny', 'ip_policies', 'enforce'],

  compile(config, cx) {
    const allow = readCidrs(config, 'allow', cx);
    const deny = readCidrs(config, 'deny', cx);
    const enforce = readBool(config, 'enforce', true, cx);
    let ok = allow !== undefined && deny !== undefined && enforce !== undefined;
    if (config.ip_policies !== undefined && config.ip_policies !== null) {
      cx.issue('ip_policies', 'IP policy ids (ipp_...) are not supported by meshgate; list the CIDRs in allow/deny instead');
      ok = false;
    }
    if (allow && deny && allow.length === 0 && deny.length === 0) {
      cx.issue('', 'needs at least one CIDR in allow or deny');
      ok = false;
    }
    return ok ? { allow: allow!, deny: deny!, enforce: enforce! } : undefined;
  },

  termination() {
    return 'maybe';
  },

  run(cx, c) {
    const ip = cx.exchange.conn.clientIp;
    const denied = firstMatch(cx, c.deny, ip);
    let action: 'allow' | 'deny';
    let matched = '';
    if (denied !== undefined) {
      action = 'deny';
      matched = denied;
    } else if (c.allow.length === 0) {
      action = 'allow';
    } else {
      const allowed = firstMatch(cx, c.allow, ip);
      action = allowed === undefined ? 'deny' : 'allow';
      matched = allowed ?? '';
    }
    cx.setResult('restrict_ips', { action, matched_cidr: matched });
    if (action === 'allow' || !c.enforce) return undefined;
    return { kind: 'respond', response: rejection(403, IP_RESTRICTED, `client IP ${ip} is not allowed to reach this endpoint`) };
  },
};

/** Text of the first CIDR in `sources` containing `ip`, or undefined. */
function firstMatch(cx: ActionRunContext, sources: readonly CidrSource[], ip: string): string | undefined {
  for (const s of sources) {
    if (s.kind === 'static') {
      if (cidrContains(s.cidr, ip)) return s.cidr.text;
      continue;
    }
    const v = cx.evalValue(s.t);
    const items = Array.isArray(v) ? v : [v];
    for (const item of items) {
      const cidr = typeof item === 'string' ? parseCidr(item) : undefined;
      if (!cidr) throw new PolicyRuntimeError(s.label, `${JSON.stringify(typeof item === 'string' ? item : String(item))} is not a CIDR`);
      if (cidrContains(cidr, ip)) return cidr.text;
    }
  }
  return undefined;
}

registerAction('restrict-ips', restrictIps);
