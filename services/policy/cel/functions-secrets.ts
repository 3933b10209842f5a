/**
 * `secrets.get(vault, name)`: a secret of the account the endpoint belongs to (ngrok: the
 * account's vaults; meshgate: edge.yaml `accounts[].vaults`, see PolicyEndpoint.secrets). An
 * unknown vault or secret is an evaluation error naming them (MG_POLICY_RUNTIME_ERROR), never ''
 * (a credential silently empty is worse than a visible failure). Values are never part of an
 * error message.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { currentContext } from './eval-context.js';
import { celFail, registerNamespace } from './namespace.js';

export function secretGet(vault: string, name: string): string {
  const secrets = currentContext().policyEndpoint.secrets;
  const value = secrets?.get(vault, name);
  if (value !== undefined) return value;
  if (secrets === undefined || !secrets.hasVault(vault)) return celFail(`secrets.get: this account has no vault '${vault}'`);
  return celFail(`secrets.get: vault '${vault}' has no secret '${name}'`);
}

export function registerSecretFunctions(env: CelEnvironment): void {
  const ns = registerNamespace(env, 'secrets', 'SecretsNs');
  env.registerFunction(`${ns}.get(string, string): string`, (_ns: unknown, vault: string, name: string) => secretGet(vault, name), {
    description: "A secret of the endpoint's account: secrets.get(vault, name)",
  });
}
