/**
 * edge.yaml `accounts[].vaults`: the secrets `secrets.get(vault, name)` returns to the account's
 * Traffic Policies (meshgate's stand-in for ngrok's vault API).
 *
 *   accounts:
 *     - name: acme
 *       vaults:
 *         upstream:                            # vault name
 *           token: env:UPSTREAM_TOKEN          # an environment variable of the edge process
 *           ops-password: file:secrets/ops     # a file; relative to edge.yaml; one final newline dropped
 *           region-tag: eu-west                # anything else is the value itself
 *
 * Everything is read once, when the config loads: a missing variable or file stops the edge
 * with the path of the entry (`accounts[0].vaults.upstream.token: environment variable
 * UPSTREAM_TOKEN is not set`). Empty values are refused (an empty credential is almost always a
 * mistake). Values never appear in messages or logs. `meshgate policy test --secret` reads
 * values the same way (resolveSecretValue).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Checker, Path } from '../core/config.js';
import { SecretVaults } from '../policy/index.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type SecretValue = { ok: true; value: string } | { ok: false; message: string };

/** A vault or secret name problem, or undefined. */
export function secretNameProblem(name: string): string | undefined {
  return NAME.test(name) ? undefined : `'${name}' is not a valid name: letters, digits, _ . - (at most 64, starting with a letter or digit)`;
}

/** `env:NAME`, `file:PATH` (relative to baseDir) or a literal, resolved now. */
export function resolveSecretValue(spec: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): SecretValue {
  let value = spec;
  if (spec.startsWith('env:')) {
    const name = spec.slice(4);
    if (!ENV_NAME.test(name)) return { ok: false, message: `'${name}' is not an environment variable name` };
    const v = env[name];
    if (v === undefined) return { ok: false, message: `environment variable ${name} is not set` };
    value = v;
    if (value === '') return { ok: false, message: `environment variable ${name} is empty` };
  } else if (spec.startsWith('file:')) {
    const file = spec.slice(5);
    if (file === '') return { ok: false, message: 'file: needs a path, e.g. file:/run/secrets/token' };
    try {
      value = readFileSync(resolve(baseDir, file), 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      return { ok: false, message: `cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
    if (value === '') return { ok: false, message: `file '${file}' is empty` };
  } else if (value === '') {
    return { ok: false, message: 'must not be empty' };
  }
  return { ok: true, value };
}

/** Validates and resolves one account's `vaults:`, reporting every problem to `c`. */
export function readVaults(c: Checker, raw: unknown, path: Path, baseDir: string): SecretVaults {
  const data: Record<string, Record<string, string>> = {};
  if (raw === undefined || raw === null) return new SecretVaults(data);
  if (!isMapping(raw)) {
    c.add(path, `must be a mapping of vault name → {secret name: value}, got ${shape(raw)}`);
    return new SecretVaults(data);
  }
  for (const [vault, secrets] of Object.entries(raw)) {
    const vp: Path = [...path, vault];
    const bad = secretNameProblem(vault);
    if (bad) c.add(vp, bad);
    if (!isMapping(secrets)) {
      c.add(vp, `must be a mapping of secret name → value (a string, env:VAR or file:PATH), got ${shape(secrets)}`);
      continue;
    }
    const values: Record<string, string> = {};
    for (const [name, spec] of Object.entries(secrets)) {
      const sp: Path = [...vp, name];
      const badName = secretNameProblem(name);
      if (badName) c.add(sp, badName);
      if (typeof spec !== 'string') {
        c.add(sp, `must be a string (quote it), env:VAR or file:PATH, got ${shape(spec)}`);
        continue;
      }
      const r = resolveSecretValue(spec, baseDir);
      if (!r.ok) c.add(sp, r.message);
      else if (!bad && !badName) values[name] = r.value;
    }
    if (!bad) data[vault] = values;
  }
  return new SecretVaults(data);
}

/** What a value is, without echoing it (it may be a secret). */
function shape(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
