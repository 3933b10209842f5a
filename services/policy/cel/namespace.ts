/**
 * Helpers for registering ngrok's functions with `@marcbachmann/cel-js`.
 *
 * Namespaced functions (`hash.sha256(x)`) cannot be registered by dotted name: the library reads
 * `hash` as a receiver type. So each namespace is a registered type (`HashNs`) with one constant
 * instance bound to the namespace name, and its functions are methods of that type
 * (`HashNs.sha256(string): string`). The checker then resolves `hash.sha256(1)` to
 * "no matching overload for 'HashNs.sha256(int)'" at load, like any other misuse.
 */
import { EvaluationError, type Environment as CelEnvironment } from '@marcbachmann/cel-js';

/** Registers the namespace type and constant; returns the type name to prefix signatures with. */
export function registerNamespace(env: CelEnvironment, name: string, typeName: string): string {
  // A distinct class per namespace: the library maps JS constructors to CEL types.
  const ctor = { [typeName]: class {} }[typeName];
  env.registerType(typeName, ctor);
  env.registerConstant(name, typeName, new ctor());
  return typeName;
}

/**
 * Throws a CEL evaluation error. Handlers must throw this (never a plain Error): the engine turns
 * CEL errors into MG_POLICY_RUNTIME_ERROR, while any other exception is treated as a bug.
 */
export function celFail(message: string): never {
  throw new EvaluationError(message);
}
