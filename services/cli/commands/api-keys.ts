/** `meshgate api-keys create|list|delete`: the keys admin clients authenticate with (ApiKeyService). */
import { runCredentialCommand, type CredentialKind } from '../credential-commands.js';

const API_KEYS: CredentialKind = {
  noun: 'api-keys',
  what: 'API key',
  usedBy: 'admin clients use it: meshgate config add-api-key KEY, or --api-key KEY',
  create: (c) => c.apiKeys.createApiKey.bind(c.apiKeys),
  list: (c) => c.apiKeys.listApiKeys.bind(c.apiKeys),
  remove: (c) => c.apiKeys.deleteApiKey.bind(c.apiKeys),
};

export function run(argv: string[]): Promise<number> {
  return runCredentialCommand(API_KEYS, argv);
}
