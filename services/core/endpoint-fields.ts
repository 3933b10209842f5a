/**
 * Endpoint fields shared by edge.yaml (cloud_endpoints) and agent.yml (endpoints): the URL with
 * its optional binding, and the Traffic Policy given inline or as a file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Checker, Path } from './config.js';
import { isMeshgateError } from './errors.js';
import { parseEndpointUrl, type UrlRules } from './endpoint-url.js';

/** Checks `url` and `binding` of an endpoint entry; returns them (undefined when missing). */
export function checkUrlFields(c: Checker, o: Record<string, unknown>, p: Path, rules?: UrlRules): { url?: string; binding?: string } {
  const url = c.string(o.url, [...p, 'url'], { required: true, nonEmpty: true });
  const binding = c.string(o.binding, [...p, 'binding'], { nonEmpty: true });
  if (url !== undefined) {
    try {
      parseEndpointUrl(url, 'url', binding, rules);
    } catch (err) {
      if (!isMeshgateError(err)) throw err;
      c.add([...p, err.code === 'MG_BINDING_INVALID' ? 'binding' : 'url'], err.detail ?? err.message);
    }
  }
  return { url, binding };
}

/**
 * Reads `traffic_policy` (YAML/JSON text, or a mapping) or `traffic_policy_file` (relative to
 * `baseDir`). Returns the policy text, '' when neither is given, undefined on a problem.
 */
export function readPolicyFields(c: Checker, o: Record<string, unknown>, p: Path, baseDir: string, required: string | null = null): string | undefined {
  if (o.traffic_policy !== undefined && o.traffic_policy_file !== undefined) {
    c.add([...p, 'traffic_policy_file'], 'give traffic_policy or traffic_policy_file, not both');
    return undefined;
  }
  if (o.traffic_policy_file !== undefined) {
    const f = c.string(o.traffic_policy_file, [...p, 'traffic_policy_file'], { nonEmpty: true });
    if (f === undefined) return undefined;
    try {
      return readFileSync(resolve(baseDir, f), 'utf8');
    } catch (err) {
      c.add([...p, 'traffic_policy_file'], `cannot read '${f}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  }
  if (o.traffic_policy === undefined || o.traffic_policy === null) {
    if (required) c.add([...p, 'traffic_policy'], `is required: ${required}`);
    return required ? undefined : '';
  }
  if (typeof o.traffic_policy === 'object') return JSON.stringify(o.traffic_policy);
  return c.string(o.traffic_policy, [...p, 'traffic_policy'], { nonEmpty: true });
}
