/**
 * ngrok's random functions: `rand.double()` in [0, 1) and `rand.int()` / `rand.int(min, max)`, an
 * int in [min, max] with both ends included (`rand.int()` is `rand.int(0, 1)`: 0 or 1).
 * `min > max` is an evaluation error. Not cryptographic (Math.random); meant for traffic splits.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { randomBytes } from 'node:crypto';
import { celFail, registerNamespace } from './namespace.js';

const SAFE_SPAN = BigInt(Number.MAX_SAFE_INTEGER);

export function randInt(min: bigint, max: bigint): bigint {
  if (min > max) celFail(`rand.int: min ${min} is greater than max ${max}`);
  const span = max - min + 1n;
  if (span <= SAFE_SPAN) return min + BigInt(Math.floor(Math.random() * Number(span)));
  // Wider than 2^53 (only reachable with extreme literals): 128 random bits reduced mod span.
  const r = BigInt('0x' + randomBytes(16).toString('hex'));
  return min + (r % span);
}

export function registerRandFunctions(env: CelEnvironment): void {
  const ns = registerNamespace(env, 'rand', 'RandNs');
  env.registerFunction(`${ns}.double(): double`, () => Math.random(), { description: 'A random double in [0, 1)' });
  env.registerFunction(`${ns}.int(): int`, () => (Math.random() < 0.5 ? 0n : 1n), { description: 'A random int, 0 or 1' });
  env.registerFunction(`${ns}.int(int, int): int`, (_ns: unknown, min: bigint, max: bigint) => randInt(min, max), {
    description: 'A random int in [min, max], both included; error when min > max',
  });
}
