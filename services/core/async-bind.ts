/**
 * A cheaper `AsyncResource.prototype.bind` for Node 20, installed by the edge.
 *
 * Every HTTP/2 client stream (the edge's request to an agent or to another edge) goes through
 * `ClientHttp2Session#request`, which binds its start-up callback with `AsyncResource#bind`.
 * In Node 20 that call also defines a deprecated `asyncResource` accessor (DEP0172) on the bound
 * function, made of two `util.deprecate` wrappers, and each wrapper's `Object.setPrototypeOf` on
 * a new function is slow in V8: 12-17 µs per bind on the bench host of 2026-12-07, ~5 % of the
 * edge's CPU per request in its profiles (not measured on a calmer host). The replacement binds
 * the same way (the callback runs in the resource's async scope with the caller's `this` and
 * arguments, or `thisArg`), without the deprecated accessor and without copying `fn.length`
 * onto the bound function (redefining `length` alone costs ~0.6 µs; nothing in the edge reads
 * it). Measured:
 * new AsyncResource + bind + call 17 µs → 0.25 µs on the bench host.
 *
 * Installed only where Node's bind still defines that accessor (probed at start), once per
 * process. `MESHGATE_NODE_ASYNC_BIND=node` keeps Node's own.
 */
import { AsyncResource } from 'node:async_hooks';

let installed = false;

/** True when this Node's bind still defines the deprecated `asyncResource` accessor. */
export function nodeBindIsSlow(): boolean {
  const bound = new AsyncResource('meshgate.probe').bind(() => undefined);
  return Object.getOwnPropertyDescriptor(bound, 'asyncResource') !== undefined;
}

/** Replaces `AsyncResource.prototype.bind` (see above); returns whether it did. */
export function installLeanAsyncBind(env: NodeJS.ProcessEnv = process.env): boolean {
  if (installed) return true;
  if (env.MESHGATE_NODE_ASYNC_BIND === 'node' || !nodeBindIsSlow()) return false;
  Object.defineProperty(AsyncResource.prototype, 'bind', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: leanBind,
  });
  installed = true;
  return true;
}

type AnyFn = (...args: unknown[]) => unknown;

function leanBind(this: AsyncResource, fn: AnyFn, thisArg?: unknown): AnyFn {
  if (typeof fn !== 'function') {
    throw Object.assign(new TypeError(`The "fn" argument must be of type function. Received ${fn === null ? 'null' : typeof fn}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  const resource = this;
  const bound: AnyFn =
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]): unknown {
          return resource.runInAsyncScope(fn, this, ...args);
        }
      : (...args: unknown[]): unknown => resource.runInAsyncScope(fn, thisArg, ...args);
  return bound;
}
