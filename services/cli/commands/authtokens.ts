/** `meshgate authtokens create|list|delete`: the tokens agents authenticate with (AuthtokenService). */
import { runCredentialCommand, type CredentialKind } from '../credential-commands.js';

const AUTHTOKENS: CredentialKind = {
  noun: 'authtokens',
  what: 'authtoken',
  usedBy: 'agents use it: meshgate agent ... --authtoken TOKEN',
  create: (c) => c.authtokens.createAuthtoken.bind(c.authtokens),
  list: (c) => c.authtokens.listAuthtokens.bind(c.authtokens),
  remove: (c) => c.authtokens.deleteAuthtoken.bind(c.authtokens),
};

export function run(argv: string[]): Promise<number> {
  return runCredentialCommand(AUTHTOKENS, argv);
}
