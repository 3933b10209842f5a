/**
 * `meshgate inspect list|get|capture`: the Traffic Inspector through the admin API
 * (InspectorService). `list` shows the requests the cluster's edges captured, newest first;
 * `get` one of them with its headers and bodies; `capture` shows or changes whether an endpoint
 * (or the account) is captured in full. Replays are `meshgate replay ID` (replay.ts).
 */
import { MeshgateError } from '../../core/errors.js';
import type { Capture, CapturedMessage, CaptureSettings, ListCapturesRequest, UpdateCaptureSettingsRequest } from '../../gen/admin.js';
import { boolFlag, dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from '../admin-command.js';
import { stringFlag } from '../flags.js';
import { formatFields, formatTable, truncate } from '../output.js';

/** Most requests `list` fetches when following pages for --limit. */
const MAX_LIMIT = 10_000;

const SUBCOMMANDS: Record<string, Subcommand> = {
  list: {
    usage: 'inspect list [--endpoint ID|URL] [--path PREFIX] [--method M] [--status 404|5xx|400-499] [--since 15m|TIME] [--until TIME] [--limit N] [--local] [--json]',
    flags: {
      endpoint: { type: 'string' },
      path: { type: 'string' },
      method: { type: 'string' },
      status: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      local: { type: 'boolean' },
      ...JSON_FLAG,
    },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const limitText = stringFlag(p, 'limit');
      const limit = limitText === undefined ? 100 : Number(limitText);
      if (limitText !== undefined && (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIMIT)) {
        throw new MeshgateError('MG_FLAG_INVALID', { field: '--limit', detail: `must be a number from 1 to ${MAX_LIMIT}, got '${limitText}'` });
      }
      const filter: ListCapturesRequest = {
        endpoint: stringFlag(p, 'endpoint') ?? '',
        pathPrefix: stringFlag(p, 'path') ?? '',
        method: stringFlag(p, 'method') ?? '',
        status: stringFlag(p, 'status') ?? '',
        startedAfter: timeFlag('since', stringFlag(p, 'since')),
        startedBefore: timeFlag('until', stringFlag(p, 'until')),
        pageSize: Math.min(limit, 1000),
        pageToken: '',
        localOnly: p.values.local === true,
      };
      const c = ctx.client();
      const captures: Capture[] = [];
      const unreachable = new Set<string>();
      for (;;) {
        const page = await c.call(c.inspector.listCaptures.bind(c.inspector), filter);
        captures.push(...page.captures);
        page.unreachableNodes.forEach((n) => unreachable.add(n));
        if (!page.nextPageToken || captures.length >= limit) break;
        filter.pageToken = page.nextPageToken;
      }
      captures.length = Math.min(captures.length, limit);
      if (p.values.json) printJson(ctx, { captures, unreachableNodes: [...unreachable] });
      else ctx.out(captures.length ? captureTable(captures) : 'no captured requests match');
      if (!p.values.json && unreachable.size) ctx.err(`not answering (their requests are missing): ${[...unreachable].join(', ')}`);
      return 0;
    },
  },

  get: {
    usage: 'inspect get ID [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      const [id] = positionals(p, ctx.usage, ['ID']);
      const c = ctx.client();
      const cap = await c.call(c.inspector.getCapture.bind(c.inspector), { id });
      if (p.values.json) printJson(ctx, withTextBodies(cap));
      else ctx.out(captureDetails(cap));
      return 0;
    },
  },

  capture: {
    usage: 'inspect capture [--endpoint ID|URL] [--full[=true|false]] [--max-body-bytes N] [--reset] [--json]',
    flags: { endpoint: { type: 'string' }, full: { type: 'string' }, 'max-body-bytes': { type: 'string' }, reset: { type: 'boolean' }, ...JSON_FLAG },
    boolFlags: ['full'],
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const endpoint = stringFlag(p, 'endpoint') ?? '';
      const full = stringFlag(p, 'full');
      const maxText = stringFlag(p, 'max-body-bytes');
      if (maxText !== undefined && !/^\d{1,8}$/.test(maxText)) throw new MeshgateError('MG_FLAG_INVALID', { field: '--max-body-bytes', detail: `must be a number of bytes, got '${maxText}'` });
      const c = ctx.client();
      let s: CaptureSettings;
      if (full === undefined && maxText === undefined && p.values.reset !== true) {
        s = await c.call(c.inspector.getCaptureSettings.bind(c.inspector), { endpoint });
      } else {
        const req: UpdateCaptureSettingsRequest = { endpoint, reset: p.values.reset === true };
        if (full !== undefined) req.full = boolFlag('full', full);
        if (maxText !== undefined) req.maxBodyBytes = Number(maxText);
        s = await c.call(c.inspector.updateCaptureSettings.bind(c.inspector), req);
      }
      if (p.values.json) printJson(ctx, s);
      else
        ctx.out(
          formatFields([
            ['endpoint', s.endpoint || '(the whole account)'],
            ['account', s.account],
            ['capture', s.full ? `full: headers and the first ${s.maxBodyBytes} bytes of each body` : 'metadata only'],
            ['max_body_bytes', s.maxBodyBytes],
            ['source', s.source],
          ]),
        );
      return 0;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('inspect', argv, SUBCOMMANDS, { ls: 'list', show: 'get' });
}

/** `15m`, `2h`, `30s`, `1d` before now, or an RFC 3339 time, as RFC 3339; '' when not given. */
export function timeFlag(flag: string, v: string | undefined, now = Date.now()): string {
  if (v === undefined || v === '') return '';
  const m = /^(\d+)(s|m|h|d)$/.exec(v);
  if (m) return new Date(now - Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']).toISOString();
  if (/^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v))) return v;
  throw new MeshgateError('MG_FLAG_INVALID', { field: `--${flag}`, detail: `'${v}' is neither a duration (30s, 15m, 2h, 1d) nor an RFC 3339 time` });
}

const COLUMNS = ['ID', 'TIME', 'METHOD', 'URL', 'STATUS', 'DURATION', 'REGION', 'SERVED BY', 'CAPTURE'] as const;

export function captureTable(caps: readonly Capture[]): string {
  return formatTable(
    COLUMNS,
    caps.map((c) => [
      c.id,
      c.startedAt.replace('T', ' ').replace('Z', ''),
      c.method,
      truncate(`${c.host}${c.path}${c.query ? `?${c.query}` : ''}`, 60),
      `${c.status || '-'}${c.errorCode ? ` ${c.errorCode}` : ''}`,
      formatMs(c.durationMs),
      c.region,
      c.servedBy ? `${c.servedBy.type} ${c.servedBy.region}`.trim() : '-',
      c.capture + (c.replayOf ? ` (replay of ${c.replayOf})` : ''),
    ]),
  );
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** One capture for people: facts, policy decisions, then request and response. */
export function captureDetails(c: Capture): string {
  const member = (m: Capture['endpoint']) => (m ? `${m.id} (${m.type}, region ${m.region}, node ${m.nodeId}) ${m.url}` : '-');
  const pairs: Array<[string, unknown]> = [
    ['id', c.id],
    ['time', c.startedAt],
    ['request', `${c.method} ${c.scheme}://${c.host}${c.path}${c.query ? `?${c.query}` : ''}`],
    ['status', `${c.status}${c.errorCode ? ` ${c.errorCode}` : ''}`],
    ['duration', formatMs(c.durationMs)],
    ['client', c.clientIp],
    ['edge', `${c.nodeId} (${c.region})`],
    ['endpoint', member(c.endpoint)],
    ['served_by', member(c.servedBy)],
    ['trace_id', c.traceId || '-'],
  ];
  if (c.replayOf) pairs.push(['replay_of', c.replayOf]);
  pairs.push(['capture', c.capture]);
  const out = [formatFields(pairs)];
  if (c.decisions.length || c.logs.length) {
    out.push('', 'traffic policy:');
    for (const d of c.decisions) out.push(`  ${d.kind === 'rule' ? (d.matched ? '✓' : '·') : '→'} ${d.path}${d.name ? ` ${d.name}` : ''}${d.kind === 'rule' ? (d.matched ? ' (matched)' : ' (not matched)') : ''}`);
    for (const l of c.logs) out.push(`  log ${l.action} ${l.metadataJson}`);
  }
  if (c.request) out.push('', 'request:', ...messageLines(c.request));
  if (c.response) out.push('', 'response:', ...messageLines(c.response));
  if (c.capture !== 'full') out.push('', `headers and bodies were not captured (${c.capture}); turn on full capture: meshgate inspect capture --endpoint ${c.endpoint?.url ?? 'URL'} --full`);
  return out.join('\n');
}

/** Headers and body of a captured message, indented; the body as text when it is UTF-8. */
export function messageLines(m: CapturedMessage): string[] {
  const lines = m.headers.map((h) => `  ${h.name}: ${h.value}`);
  if (m.headersTruncated) lines.push('  … (headers truncated)');
  if (m.bodySize === 0) return lines;
  lines.push('');
  const text = utf8(m.body);
  if (text === undefined) lines.push(`  (${m.body.length} bytes of binary body; --json shows them as base64)`);
  else lines.push(...text.split('\n').map((l) => `  ${l}`));
  if (m.bodyTruncated) lines.push(`  … truncated: ${m.body.length} of ${m.bodySize} bytes captured`);
  if (m.bodyIncomplete) lines.push('  … the body did not end normally');
  return lines;
}

function utf8(b: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

/** For --json: bodies as base64 (`body`) and, when UTF-8, as text (`body_text`). */
function withTextBodies(c: Capture): unknown {
  const msg = (m: CapturedMessage | undefined) => (m === undefined ? undefined : { ...m, body: m.body.toString('base64'), bodyText: utf8(m.body) });
  return { ...c, request: msg(c.request), response: msg(c.response) };
}
