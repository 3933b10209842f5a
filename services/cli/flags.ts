/**
 * Command-line parsing shared by every `meshgate` command: node's `util.parseArgs` in strict
 * mode, with its errors turned into MG_FLAG_INVALID errors that name the flag and the fix.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MeshgateError } from '../core/errors.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `argv` against `options`; throws MeshgateError('MG_FLAG_INVALID') naming the bad flag. */
export function parseFlags(argv: string[], options: FlagSpec, usage: string): Parsed {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message;
    const m = /'(-{1,2}[^']+)'/.exec(msg);
    throw new MeshgateError('MG_FLAG_INVALID', { field: m?.[1], detail: `${msg}\nusage: ${usage}` });
  }
}

/** Reads a string flag, falling back to an environment variable. */
export function stringFlag(p: Parsed, name: string, env?: string): string | undefined {
  const v = p.values[name];
  if (typeof v === 'string') return v;
  if (env && process.env[env]) return process.env[env];
  return undefined;
}

/** Like stringFlag, but a missing value is an error naming the flag and its env variable. */
export function requiredFlag(p: Parsed, name: string, env?: string): string {
  const v = stringFlag(p, name, env);
  if (v === undefined || v === '') {
    throw new MeshgateError('MG_FLAG_INVALID', {
      field: `--${name}`,
      detail: `is required${env ? ` (or set ${env})` : ''}`,
    });
  }
  return v;
}
