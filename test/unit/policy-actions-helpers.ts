/**
 * Small helpers for the action tests: run an agent-endpoint policy over a URL and look at the
 * outcome and the (possibly changed) exchange.
 */
import type { Exchange, PolicyResponse, RequestOutcome, ResponseOutcome } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost } from './policy-fixtures.js';

export interface RunResult {
  out: RequestOutcome<string>;
  x: Exchange;
}

export async function runReq(
  policy: string,
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; clientIp?: string } = {},
): Promise<RunResult> {
  const x = exchange(url, opts);
  const out = await compileOk(policy, AGENT).runRequest(x, endpoint('agent'), new FakeHost());
  return { out, x };
}

export async function runRes(policy: string, url: string, res: PolicyResponse): Promise<{ out: ResponseOutcome; x: Exchange; res: PolicyResponse }> {
  const x = exchange(url);
  const out = await compileOk(policy, AGENT).runResponse(x, endpoint('agent'), res);
  return { out, x, res };
}

/** The body of a `respond` outcome (fails loudly otherwise). */
export function bodyOf(out: RequestOutcome<string> | ResponseOutcome): string {
  if (out.kind !== 'respond') throw new Error(`expected respond, got ${JSON.stringify(out)}`);
  return out.response.body;
}

/** A rule that answers with `body` (for reading result variables through `${}`). */
export function echo(body: string): string {
  return `  - actions: [{type: custom-response, config: {body: ${JSON.stringify(body)}}}]\n`;
}
