/**
 * `meshgate policy validate FILE...` and `meshgate policy test FILE --request '...'`: offline
 * checks of Traffic Policy files with the same compiler the edge uses.
 *
 * validate prints `FILE: ok`, or one line per issue `FILE:LINE: path: message`; exit 1 when any
 * file has an issue. test prints, per request, the matched rules, the actions run and the result
 * as JSON (forward-internal succeeds unless the target is listed with --offline). `--secret
 * vault/name=value` (repeatable) gives `secrets.get` its answers, like edge.yaml's vaults (value:
 * a literal, env:VAR or file:PATH relative to the working directory).
 */
import { readFile } from 'node:fs/promises';
import { MeshgateError, type Issue } from '../../core/errors.js';
import {
  compileOptionsFor,
  compilePolicy,
  endpointFromUrl,
  parseRequestSpec,
  simulateConnect,
  simulateRequest,
  type CompiledPolicy,
  type EndpointType,
  type PolicyEndpoint,
  type VaultsData,
} from '../../policy/index.js';
import { resolveSecretValue, secretNameProblem } from '../../edge/vaults.js';
import { parseFlags, stringFlag, type FlagSpec } from '../flags.js';

const VALIDATE_USAGE = 'meshgate policy validate [--endpoint-type agent|cloud] [--url URL] FILE...';
const TEST_USAGE =
  "meshgate policy test FILE --request 'GET https://api.example.com/foo -H x-api:foo' [--request ...] " +
  "[--connect tls://db.example.com [--client-ip IP] [--client-cert-cn CN]]... [--endpoint-type agent|cloud] [--url URL] [--offline URL|HOST]... [--status N] [--secret VAULT/NAME=VALUE]...";
const USAGE = `usage:\n  ${VALIDATE_USAGE}\n  ${TEST_USAGE}\n\nFILE may be - for stdin. Without --url the policy is checked as a cloud endpoint's on https://policy.example.com.`;

const COMMON: FlagSpec = {
  'endpoint-type': { type: 'string' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'validate':
      return validate(rest);
    case 'test':
      return test(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`meshgate policy: unknown subcommand '${sub}'\n${USAGE}\n`);
      return 2;
  }
}

async function validate(argv: string[]): Promise<number> {
  const p = parseFlags(argv, COMMON, VALIDATE_USAGE);
  if (p.values.help) {
    process.stdout.write(`usage: ${VALIDATE_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new MeshgateError('MG_FLAG_INVALID', { detail: `no policy file given\nusage: ${VALIDATE_USAGE}` });
  const endpoint = endpointFromFlags(p.values);
  let failed = false;
  for (const file of p.positionals) {
    const r = await load(file, endpoint);
    if (r.ok) {
      process.stdout.write(`${file}: ok\n`);
    } else {
      failed = true;
      for (const issue of r.issues) process.stdout.write(formatIssue(file, issue) + '\n');
    }
  }
  return failed ? 1 : 0;
}

async function test(argv: string[]): Promise<number> {
  const spec: FlagSpec = {
    ...COMMON,
    request: { type: 'string', multiple: true },
    connect: { type: 'string', multiple: true },
    'client-ip': { type: 'string' },
    'client-cert-cn': { type: 'string' },
    offline: { type: 'string', multiple: true },
    status: { type: 'string' },
    secret: { type: 'string', multiple: true },
  };
  const p = parseFlags(argv, spec, TEST_USAGE);
  if (p.values.help) {
    process.stdout.write(`usage: ${TEST_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length !== 1) throw new MeshgateError('MG_FLAG_INVALID', { detail: `give exactly one policy file\nusage: ${TEST_USAGE}` });
  const requests = (p.values.request as string[] | undefined) ?? [];
  const connects = (p.values.connect as string[] | undefined) ?? [];
  if (requests.length === 0 && connects.length === 0) throw new MeshgateError('MG_FLAG_INVALID', { field: '--request', detail: `is required (or --connect tcp://... / tls://...)\nusage: ${TEST_USAGE}` });
  for (const c of connects) {
    if (!/^(tcp|tls):\/\/[^/]+$/i.test(c)) throw new MeshgateError('MG_FLAG_INVALID', { field: '--connect', detail: `'${c}' is not a tcp://host:port or tls://host URL` });
  }
  // a connection-only run checks the policy as the connected endpoint's, unless --url says otherwise
  if (requests.length === 0 && p.values.url === undefined) p.values.url = connects[0];
  const specs = requests.map((text) => {
    const r = parseRequestSpec(text);
    if (!r.ok) throw new MeshgateError('MG_FLAG_INVALID', { field: '--request', detail: r.message });
    return r.spec;
  });
  let status = 200;
  const statusFlag = stringFlag(p, 'status');
  if (statusFlag !== undefined) {
    status = Number(statusFlag);
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new MeshgateError('MG_FLAG_INVALID', { field: '--status', detail: `must be an HTTP status 100-599, got '${statusFlag}'` });
    }
  }

  const secrets = secretFlags((p.values.secret as string[] | undefined) ?? []);

  const file = p.positionals[0];
  const explicit = stringFlag(p, 'url') !== undefined;
  const endpoint = endpointFromFlags(p.values);
  const r = await load(file, endpoint);
  if (!r.ok) {
    for (const issue of r.issues) process.stdout.write(formatIssue(file, issue) + '\n');
    return 1;
  }
  for (const s of specs) {
    const ep = explicit ? endpoint : { ...endpointFromUrl(new URL(s.url).origin, endpoint.type) };
    const result = await simulateRequest(r.policy, s, {
      endpoint: ep,
      offline: (p.values.offline as string[] | undefined) ?? [],
      upstream: { status },
      secrets,
    });
    process.stdout.write(JSON.stringify({ request: `${s.method} ${s.url}`, ...result }, null, 2) + '\n');
  }
  const cn = stringFlag(p, 'client-cert-cn');
  for (const c of connects) {
    const result = await simulateConnect(r.policy, c, {
      endpoint: explicit || requests.length === 0 ? endpoint : endpointFromUrl(c, endpoint.type),
      offline: (p.values.offline as string[] | undefined) ?? [],
      clientIp: stringFlag(p, 'client-ip'),
      clientCert: cn === undefined ? undefined : { common_name: cn },
      secrets,
    });
    process.stdout.write(JSON.stringify({ connect: c, ...result }, null, 2) + '\n');
  }
  return 0;
}

/** `--secret vault/name=value`... → vaults (undefined when none is given). */
export function secretFlags(flags: readonly string[], baseDir = process.cwd()): VaultsData | undefined {
  if (flags.length === 0) return undefined;
  const vaults: Record<string, Record<string, string>> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    const slash = f.indexOf('/');
    if (eq < 0 || slash < 0 || slash > eq) {
      throw new MeshgateError('MG_FLAG_INVALID', { field: '--secret', detail: `expected VAULT/NAME=VALUE (e.g. --secret api/token=env:API_TOKEN), got '${f.slice(0, eq < 0 ? f.length : eq)}${eq < 0 ? '' : '=…'}'` });
    }
    const vault = f.slice(0, slash);
    const name = f.slice(slash + 1, eq);
    const problem = secretNameProblem(vault) ?? secretNameProblem(name);
    if (problem) throw new MeshgateError('MG_FLAG_INVALID', { field: '--secret', detail: problem });
    const value = resolveSecretValue(f.slice(eq + 1), baseDir);
    if (!value.ok) throw new MeshgateError('MG_FLAG_INVALID', { field: '--secret', detail: `${vault}/${name}: ${value.message}` });
    (vaults[vault] ??= {})[name] = value.value;
  }
  return vaults;
}

function endpointFromFlags(values: Record<string, unknown>): PolicyEndpoint {
  const typeFlag = values['endpoint-type'];
  let type: EndpointType = 'cloud';
  if (typeFlag !== undefined) {
    if (typeFlag !== 'agent' && typeFlag !== 'cloud') {
      throw new MeshgateError('MG_FLAG_INVALID', { field: '--endpoint-type', detail: `must be agent or cloud, got '${String(typeFlag)}'` });
    }
    type = typeFlag;
  }
  const url = typeof values.url === 'string' ? values.url : 'https://policy.example.com';
  let endpoint: PolicyEndpoint;
  try {
    endpoint = endpointFromUrl(url, type);
  } catch {
    throw new MeshgateError('MG_FLAG_INVALID', { field: '--url', detail: `'${url}' is not a valid URL; expected e.g. https://api.example.com` });
  }
  if (!['http', 'https', 'tcp', 'tls'].includes(endpoint.protocol)) {
    throw new MeshgateError('MG_FLAG_INVALID', { field: '--url', detail: `scheme must be http, https, tcp or tls, got '${endpoint.protocol}'` });
  }
  return endpoint;
}

type Loaded = { ok: true; policy: CompiledPolicy } | { ok: false; issues: Issue[] };

async function load(file: string, endpoint: PolicyEndpoint): Promise<Loaded> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    return { ok: false, issues: [{ path: '', message: `cannot read: ${(e as Error).message}` }] };
  }
  return compilePolicy(text, compileOptionsFor(endpoint));
}

/** `FILE:LINE: path: message`, leaving out the parts an issue does not have. */
export function formatIssue(file: string, issue: Issue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}` : file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
