/**
 * Actions that must learn how an exchange ended (circuit-breaker): the action's compiled config
 * extends `ResponseObserver`; when it lets a request through in on_http_request it calls
 * `expectResponse(x, observer)`, and the policy that owns the observer reports the final status
 * from runResponse (`reportResponse`). The per-exchange record is a WeakMap, so an exchange that
 * never gets a response phase (closed connection, retried pool member) leaves nothing behind.
 *
 * A policy without observers never touches this module at run time.
 */
import type { Exchange } from '../types.js';

/** Base class of compiled action configs that observe the final response status. */
export abstract class ResponseObserver {
  /** The final status of an exchange this observer let through (5xx = error, incl. gateway errors). */
  abstract observeResponse(status: number): void;
}

const pending = new WeakMap<Exchange, ResponseObserver[]>();

/** Records that `x` passed `o` and must report its response to it (once, even if passed twice). */
export function expectResponse(x: Exchange, o: ResponseObserver): void {
  const list = pending.get(x);
  if (list === undefined) pending.set(x, [o]);
  else if (!list.includes(o)) list.push(o);
}

/** Reports `status` to the observers of `owned` that `x` passed, and forgets them. */
export function reportResponse(x: Exchange, owned: ReadonlySet<ResponseObserver>, status: number): void {
  settleObservers(x, owned, status);
}

/** Forgets the observers of `owned` that `x` passed, without reporting (the policy answered itself). */
export function forgetResponse(x: Exchange, owned: ReadonlySet<ResponseObserver>): void {
  settleObservers(x, owned, undefined);
}

function settleObservers(x: Exchange, owned: ReadonlySet<ResponseObserver>, status: number | undefined): void {
  const list = pending.get(x);
  if (list === undefined) return;
  let kept = 0;
  for (let i = 0; i < list.length; i++) {
    const o = list[i];
    if (owned.has(o)) {
      if (status !== undefined) o.observeResponse(status);
    } else list[kept++] = o;
  }
  list.length = kept;
  if (kept === 0) pending.delete(x);
}
