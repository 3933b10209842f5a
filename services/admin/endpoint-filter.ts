/**
 * The CEL `filter` of ListEndpoints: an expression over `obj`, the endpoint with its proto
 * field names (`obj.type == 'cloud' && 'internal' == obj.binding`, `obj.url.contains('api')`,
 * `'prod' in obj.metadata`, `size(obj.pools) > 0`). Parsed and type-checked once per call; an
 * expression that does not parse, is not a bool, or fails on an endpoint is refused with
 * MG_ADMIN_REQUEST_INVALID naming the `filter` field.
 */
import { Environment } from '@marcbachmann/cel-js';
import { MeshgateError } from '../core/errors.js';

const MAX_FILTER_LENGTH = 4096;

let env: Environment | undefined;
function environment(): Environment {
  env ??= new Environment({ homogeneousAggregateLiterals: false }).registerVariable('obj', 'map<string, dyn>', { description: 'the endpoint' });
  return env;
}

/** Every field `obj` has, with a value of its type (ListEndpoints' Endpoint, snake_case). */
const SAMPLE: Readonly<Record<string, unknown>> = Object.freeze({
  id: 'ep_sample', url: 'https://sample.internal', type: 'cloud', binding: 'internal', pooling_enabled: false, traffic_policy: '',
  description: '', metadata: '', region: '', node_id: '', pools: [] as string[], upstream_url: '', created_at: '', updated_at: '',
});

export type EndpointFilter = (obj: Record<string, unknown>) => boolean;

/** Compiles `source`; '' accepts everything. Throws MG_ADMIN_REQUEST_INVALID (field `filter`). */
export function compileEndpointFilter(source: string): EndpointFilter {
  if (source.trim() === '') return () => true;
  const bad = (detail: string): MeshgateError => new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'filter', detail });
  if (source.length > MAX_FILTER_LENGTH) throw bad(`is ${source.length} characters; the limit is ${MAX_FILTER_LENGTH}`);
  let fn: ReturnType<Environment['parse']>;
  try {
    fn = environment().parse(source);
  } catch (e) {
    throw bad(`'${source}' is not a CEL expression: ${firstLine(e)}`);
  }
  const checked = fn.check();
  if (!checked.valid) throw bad(`'${source}': ${firstLine(checked.error)}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw bad(`'${source}' must evaluate to bool, but it evaluates to ${checked.type}`);
  // obj is a map, so a misspelt field only fails when evaluated: try it once on a sample
  // endpoint with every field, so `obj.typo` is refused even when nothing would match.
  try {
    fn({ obj: SAMPLE });
  } catch (e) {
    throw bad(`'${source}': ${firstLine(e)}; obj has ${Object.keys(SAMPLE).join(', ')}`);
  }
  return (obj) => {
    let v: unknown;
    try {
      v = fn({ obj });
    } catch (e) {
      throw bad(`'${source}' failed on endpoint ${String(obj.id)}: ${firstLine(e)}`);
    }
    if (typeof v !== 'boolean') throw bad(`'${source}' returned ${typeof v} for endpoint ${String(obj.id)}, not a bool`);
    return v;
  };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}
