/*
 * Static check of auth actions, at load (meshgate extension of ngrok's "one auth action per
 * endpoint"): several auth actions may guard one endpoint — they run in document order and each
 * must pass — as long as no two of them that can run on the same request require the same
 * credential. A request carries one Authorization header (basic-auth and a jwt-validation that
 * reads it cannot both pass), and one sign-in session per auth_id (two oauth/openid-connect
 * actions without distinct auth_ids would overwrite each other's cookie and callback).
 *
 * "Can run on the same request": both in one rule, or at least one of the two rules has no
 * expressions. Two rules that both have expressions (e.g. different paths) are assumed to
 * select different requests; conditions are not analysed further.
 */
import type { CompiledRule } from './run-phase.js';

interface IssueSink {
  add(path: string, message: string): void;
}

interface AuthUse {
  rule: CompiledRule;
  path: string;
  type: string;
  credential: string;
}

export function checkAuthConflicts(rules: readonly CompiledRule[], issues: IssueSink): void {
  const uses: AuthUse[] = [];
  for (const rule of rules) {
    for (const a of rule.actions) {
      const credential = a.def.authCredential?.(a.config);
      if (credential === undefined) continue;
      const clash = uses.find((u) => u.credential === credential && (u.rule === rule || u.rule.expressions.length === 0 || rule.expressions.length === 0));
      if (clash) issues.add(a.path, conflictMessage(clash, a.type, credential));
      else uses.push({ rule, path: a.path, type: a.type, credential });
    }
  }
}

function conflictMessage(first: AuthUse, type: string, credential: string): string {
  if (credential.startsWith('session:')) {
    const id = credential.slice('session:'.length);
    return `${type} and ${first.type} at ${first.path} would share one sign-in session${id ? ` (auth_id '${id}')` : ''}: give each a distinct auth_id`;
  }
  const header = credential.slice(credential.indexOf(':') + 1);
  return `${type} and ${first.type} at ${first.path} both require the '${header}' header, which a request carries once, so no request can pass both: read the token from another header, or set enforce: false on one`;
}
