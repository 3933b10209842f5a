/**
 * `basic-auth`: require HTTP Basic credentials. Continues when they match; answers 401 with a
 * `www-authenticate` challenge otherwise.
 *
 * Config: `credentials` (required list of 1 to 10 `user:pass`, `${}` interpolated; the first `:`
 * splits; user not empty; password 8 to 128 characters — checked at load when static, per request
 * otherwise, a bad one being a policy runtime error), `realm` (default "ngrok" as in the
 * reference, at most 128 printable ASCII characters, no `"` or `\`), `enforce` (default true;
 * false only sets the result variables).
 *
 * Comparison is constant-time over SHA-256 digests of user and password, and every configured
 * credential is compared (no early exit), so timing reveals neither which user exists nor how
 * much of a password matched. The Authorization header is forwarded unchanged (remove it with
 * remove-headers if the upstream must not see it).
 *
 * Rejected and enforced → synthetic 401, `www-authenticate: Basic realm="<realm>",
 * charset="UTF-8"`, `meshgate-error-code: MG_BASIC_AUTH_FAILED`.
 * Result: `actions.ngrok.basic_auth.credentials.{presented, username, authorized}`.
 */
import type { ErrorCode } from '../../core/errors.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { readBool, readString, readTemplateList, rejection } from './util.js';

export const BASIC_AUTH_FAILED: ErrorCode = 'MG_BASIC_AUTH_FAILED';
export const DEFAULT_REALM = 'ngrok';

interface Digest {
  readonly user: Buffer;
  readonly pass: Buffer;
}
type CredentialSource = { kind: 'static'; d: Digest } | { kind: 'dynamic'; t: Template; label: string };

interface BasicAuthConfig {
  readonly credentials: readonly CredentialSource[];
  readonly challenge: string;
  readonly enforce: boolean;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Why `cred` is not a usable `user:pass`, or undefined. */
export function credentialProblem(cred: string): string | undefined {
  const i = cred.indexOf(':');
  if (i < 0) return `must be 'user:password' (no ':' found)`;
  if (i === 0) return 'the user name must not be empty';
  const pass = cred.length - i - 1;
  if (pass < 8 || pass > 128) return `the password must be 8 to 128 characters, got ${pass}`;
  return undefined;
}

function digest(cred: string): Digest {
  const i = cred.indexOf(':');
  return { user: sha256(cred.slice(0, i)), pass: sha256(cred.slice(i + 1)) };
}

export const basicAuth: ActionDefinition<BasicAuthConfig> = {
  phases: ['on_http_request'],
  fields: ['credentials', 'realm', 'enforce'],

  compile(config, cx) {
    const list = readTemplateList(config, 'credentials', cx, { min: 1, max: 10, what: "credentials ('user:password')" });
    const realm = readString(config, 'realm', cx, { default: DEFAULT_REALM, maxLength: 128 });
    const enforce = readBool(config, 'enforce', true, cx);
    let ok = list !== undefined && realm !== undefined && enforce !== undefined;
    if (realm !== undefined && !/^[\x20-\x7e]*$/.test(realm.replace(/["\\]/g, '\x7f'))) {
      cx.issue('realm', 'must be printable ASCII without " or \\');
      ok = false;
    }
    const credentials: CredentialSource[] = [];
    list?.forEach((t, i) => {
      if (!t.isStatic) {
        credentials.push({ kind: 'dynamic', t, label: `${cx.path}.credentials[${i}]` });
        return;
      }
      const problem = credentialProblem(t.staticValue);
      if (problem) {
        cx.issue(`credentials[${i}]`, problem);
        ok = false;
      } else credentials.push({ kind: 'static', d: digest(t.staticValue) });
    });
    if (!ok) return undefined;
    return { credentials, challenge: `Basic realm="${realm}", charset="UTF-8"`, enforce: enforce! };
  },

  termination() {
    return 'maybe';
  },

  authCredential(c) {
    return c.enforce ? 'header:authorization' : undefined;
  },

  run(cx, c) {
    const presented = parseAuthorization(cx.exchange.req.headers.authorization);
    let authorized = false;
    if (presented !== undefined) {
      const user = sha256(presented.user);
      const pass = sha256(presented.pass);
      for (const s of c.credentials) {
        let d: Digest;
        if (s.kind === 'static') d = s.d;
        else {
          const cred = cx.evalString(s.t);
          const problem = credentialProblem(cred);
          if (problem) throw new PolicyRuntimeError(s.label, problem);
          d = digest(cred);
        }
        // both comparisons always run: no short-circuit on the user name
        const u = timingSafeEqual(user, d.user);
        const p = timingSafeEqual(pass, d.pass);
        if (u && p) authorized = true;
      }
    }
    cx.setResult('basic_auth', {
      credentials: { presented: presented !== undefined, username: presented?.user ?? '', authorized },
    });
    if (authorized || !c.enforce) return undefined;
    const res = rejection(401, BASIC_AUTH_FAILED, presented ? 'invalid credentials' : 'credentials required', { 'www-authenticate': [c.challenge] });
    return { kind: 'respond', response: res };
  },
};

/** `Basic base64(user:pass)` → user and password; undefined when absent or malformed. */
export function parseAuthorization(values: readonly string[] | undefined): { user: string; pass: string } | undefined {
  if (values === undefined || values.length !== 1) return undefined;
  const m = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(values[0]);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

registerAction('basic-auth', basicAuth);
