/**
 * `set-vars`: set variables for later rules and actions of the same phase (`vars.<name>`).
 * Never terminates.
 *
 * Config: `vars` (required list of single-key maps, `- name: value`, at most 32). A string value
 * is interpolated; a value that is exactly `${expr}` keeps the expression's type (list, map,
 * bool, int); other YAML values (numbers, booleans, lists, maps) are used as they are. Names are
 * identifiers (`[A-Za-z_][A-Za-z0-9_]*`). Later entries may read earlier ones (ngrok's page
 * allows it; its ERR 2251 forbids it — we follow the page).
 */
import { describe, isPlainMap } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { evalValueSpec, readValue, type ValueSpec } from './util.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_VARS = 32;

interface SetVarsConfig {
  readonly vars: ReadonlyArray<readonly [string, ValueSpec]>;
}

export const setVars: ActionDefinition<SetVarsConfig> = {
  phases: ['on_tcp_connect', 'on_http_request', 'on_http_response'],
  fields: ['vars'],

  compile(config, cx) {
    const raw = config.vars;
    if (raw === undefined || raw === null) {
      cx.issue('vars', 'is required: a list of single-key maps, e.g. [{name: value}]');
      return undefined;
    }
    if (!Array.isArray(raw)) {
      cx.issue('vars', `must be a list of single-key maps (- name: value), got ${describe(raw)}`);
      return undefined;
    }
    if (raw.length === 0 || raw.length > MAX_VARS) {
      cx.issue('vars', `must have 1 to ${MAX_VARS} entries, got ${raw.length}`);
      return undefined;
    }
    let ok = true;
    const out: Array<readonly [string, ValueSpec]> = [];
    raw.forEach((entry, i) => {
      const path = `vars[${i}]`;
      if (!isPlainMap(entry) || Object.keys(entry).length !== 1) {
        const n = isPlainMap(entry) ? `${Object.keys(entry).length} keys` : describe(entry);
        cx.issue(path, `must be a map with exactly one key (- name: value), got ${n}`);
        ok = false;
        return;
      }
      const name = Object.keys(entry)[0];
      if (!NAME.test(name)) {
        cx.issue(path, `'${name}' is not a valid variable name (letters, digits and _, not starting with a digit)`);
        ok = false;
        return;
      }
      const spec = readValue(entry[name], `${path}.${name}`, cx);
      if (!spec) ok = false;
      else out.push([name, spec]);
    });
    return ok ? { vars: Object.freeze(out) } : undefined;
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    for (const [name, spec] of c.vars) cx.setVar(name, evalValueSpec(cx, spec));
    return undefined;
  },
};

registerAction('set-vars', setVars);
