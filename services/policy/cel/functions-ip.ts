/**
 * ngrok's IP functions: `inCidrRange(ip, cidr)`, `inCidrRanges(ip, [cidrs])`, `string.isPrivateIp()`.
 * IPv4 and IPv6; an invalid CIDR makes `inCidrRange` false and is ignored by `inCidrRanges`; an
 * invalid address is never in range and never private. They never raise errors.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { inCidrRange, inCidrRanges, isPrivateIp } from './ip.js';

export function registerIpFunctions(env: CelEnvironment): void {
  env.registerFunction('inCidrRange(string, string): bool', inCidrRange, {
    description: 'Whether the IP address lies in the CIDR (IPv4 or IPv6); false for an invalid address or CIDR',
  });
  env.registerFunction('inCidrRanges(string, list<string>): bool', inCidrRanges, {
    description: 'Whether the IP address lies in any of the CIDRs; invalid CIDRs are ignored',
  });
  env.registerFunction('string.isPrivateIp(): bool', isPrivateIp, {
    description: 'Whether the IP address is private (10/8, 172.16/12, 192.168/16, fc00::/7); false when invalid',
  });
}
