import assert from 'node:assert/strict';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { installLeanAsyncBind, nodeBindIsSlow } from '../../services/core/async-bind.js';

describe('lean AsyncResource#bind (installed by the edge)', () => {
  const als = new AsyncLocalStorage<string>();
  const probe = () => new AsyncResource('test').bind(() => undefined);

  it('leaves Node its own bind when MESHGATE_NODE_ASYNC_BIND=node', function () {
    if (!nodeBindIsSlow()) this.skip(); // this Node's bind is already lean (or the lean one is installed)
    assert.equal(installLeanAsyncBind({ MESHGATE_NODE_ASYNC_BIND: 'node' }), false);
    assert.ok(Object.getOwnPropertyDescriptor(probe(), 'asyncResource'), "Node's bind still in place");
  });

  it('replaces it: no deprecated accessor, and the probe then reports bind as lean', () => {
    // (process-wide from here on, as in an edge: the later suites run on the lean bind)
    if (nodeBindIsSlow()) assert.equal(installLeanAsyncBind({}), true);
    assert.equal(Object.getOwnPropertyDescriptor(probe(), 'asyncResource'), undefined);
    assert.equal(nodeBindIsSlow(), false);
  });

  it("runs the function in the resource's async context, with the caller's this and arguments", () => {
    const bound = als.run('bound-here', () => new AsyncResource('test').bind(function (this: unknown, a: number, b: number) {
      return { store: als.getStore(), self: this, sum: a + b };
    }));
    const self = { name: 'caller' };
    const out = als.run('called-here', () => bound.call(self, 2, 3));
    assert.deepEqual(out, { store: 'bound-here', self, sum: 5 });
  });

  it('uses thisArg when given, and AsyncResource.bind (the static one) works through it', () => {
    const target = { k: 7 };
    type BindWithThis = (fn: (this: { k: number }) => unknown, thisArg: unknown) => () => unknown;
    const viaThisArg = als.run('ctx', () => {
      const r = new AsyncResource('test');
      return (r.bind as unknown as BindWithThis).call(r, function (this: { k: number }) { return [als.getStore(), this.k]; }, target);
    });
    assert.deepEqual(viaThisArg.call({ k: 1 }), ['ctx', 7]);
    const viaStatic = als.run('static', () => AsyncResource.bind(() => als.getStore()));
    assert.equal(viaStatic(), 'static');
  });

  it('refuses a non-function like Node does (ERR_INVALID_ARG_TYPE)', () => {
    assert.throws(() => new AsyncResource('test').bind(42 as unknown as () => void), (e: unknown) => (e as { code?: string }).code === 'ERR_INVALID_ARG_TYPE' && /"fn" argument must be of type function/.test((e as Error).message));
  });
});
