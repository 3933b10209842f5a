/**
 * An account's vaults as the policy engine reads them (`secrets.get(vault, name)`): built once
 * from plain data (edge.yaml `vaults`, `policy test --secret`, golden files), then read-only.
 * Values live in private fields, so neither JSON.stringify nor util.inspect of an endpoint view
 * ever shows them.
 */
import type { PolicySecrets } from './types.js';

/** `{vault: {name: value}}`. */
export type VaultsData = Readonly<Record<string, Readonly<Record<string, string>>>>;

export class SecretVaults implements PolicySecrets {
  readonly #vaults: ReadonlyMap<string, ReadonlyMap<string, string>>;

  constructor(data: VaultsData = {}) {
    const vaults = new Map<string, Map<string, string>>();
    for (const [vault, secrets] of Object.entries(data)) vaults.set(vault, new Map(Object.entries(secrets)));
    this.#vaults = vaults;
    Object.freeze(this);
  }

  get(vault: string, name: string): string | undefined {
    return this.#vaults.get(vault)?.get(name);
  }

  hasVault(vault: string): boolean {
    return this.#vaults.has(vault);
  }

  /** Number of vaults (diagnostics only; names and values are never listed). */
  get size(): number {
    return this.#vaults.size;
  }

  toJSON(): string {
    return `[${this.#vaults.size} vault${this.#vaults.size === 1 ? '' : 's'}]`;
  }
}
