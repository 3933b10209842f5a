/**
 * `meshgate replay ID`: sends a captured request again (InspectorService.Replay), on the edge
 * that captured it, through its endpoint's current Traffic Policy; the upstream sees
 * `meshgate-replay-of: ID`. Flags change it first: `--method`, `--path` (with query),
 * `--set-header 'Name: value'` (repeatable; replaces that header), `--remove-header NAME`
 * (repeatable), `--body TEXT` or `--body-file F` (`-` = stdin).
 */
import { MeshgateError } from '../../core/errors.js';
import type { Header, ReplayRequest } from '../../gen/admin.js';
import { readFile } from 'node:fs/promises';
import { dispatch, positionals, printJson, readFlagFile, type Subcommand } from '../admin-command.js';
import { stringFlag } from '../flags.js';
import { formatMs, messageLines } from './inspect.js';

export const USAGE =
  'replay ID [--method M] [--path /p?q] [--set-header "Name: value"]... [--remove-header NAME]... [--body TEXT | --body-file F] [--json]';

/** One command without subcommands: dispatched as `replay replay ...` for the shared flag handling. */
export function run(argv: string[]): Promise<number> {
  return dispatch('replay', ['replay', ...argv], { replay: REPLAY });
}

const REPLAY: Subcommand = {
  usage: USAGE,
  flags: {
    method: { type: 'string' },
    path: { type: 'string' },
    'set-header': { type: 'string', multiple: true },
    'remove-header': { type: 'string', multiple: true },
    body: { type: 'string' },
    'body-file': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(p, ctx) {
    const [id] = positionals(p, ctx.usage, ['ID']);
    const req: ReplayRequest = { id, setHeaders: ((p.values['set-header'] as string[] | undefined) ?? []).map(headerFlag), removeHeaders: (p.values['remove-header'] as string[] | undefined) ?? [] };
    req.method = stringFlag(p, 'method');
    req.path = stringFlag(p, 'path');
    const body = stringFlag(p, 'body');
    const file = stringFlag(p, 'body-file');
    if (body !== undefined && file !== undefined) throw new MeshgateError('MG_FLAG_INVALID', { field: '--body', detail: 'give either --body or --body-file, not both' });
    if (body !== undefined) req.body = Buffer.from(body);
    if (file !== undefined) req.body = await readBodyFile(file);
    const c = ctx.client();
    const r = await c.call(c.inspector.replay.bind(c.inspector), req);
    if (p.values.json) {
      printJson(ctx, { ...r, body: r.body.toString('base64') });
      return 0;
    }
    ctx.out(`replayed ${r.replayOf} as ${r.id} on ${r.nodeId} (${r.region}): ${r.status || 'connection closed'}${r.errorCode ? ` ${r.errorCode}` : ''} in ${formatMs(r.durationMs)}${r.traceId ? ` (trace ${r.traceId})` : ''}`);
    ctx.out(['', ...messageLines({ headers: r.headers, headersTruncated: false, body: r.body, bodySize: r.bodySize, bodyTruncated: r.bodyTruncated, bodyIncomplete: false })].join('\n'));
    return 0;
  },
};

/** `Name: value` → a Header; anything else names the flag. */
export function headerFlag(v: string): Header {
  const i = v.indexOf(':');
  const name = i > 0 ? v.slice(0, i).trim() : '';
  if (!name) throw new MeshgateError('MG_FLAG_INVALID', { field: '--set-header', detail: `'${v}' is not "Name: value"` });
  return { name, value: v.slice(i + 1).trim() };
}

/** The bytes of --body-file (`-` = stdin), unchanged (a binary body stays binary). */
async function readBodyFile(path: string): Promise<Buffer> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(path);
  } catch {
    // the same message as the other file flags
    await readFlagFile('body-file', path);
    throw new MeshgateError('MG_FLAG_INVALID', { field: '--body-file', detail: `cannot read '${path}'` });
  }
}
