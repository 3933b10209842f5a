/**
 * The client side of the admin API (proto/admin.proto), used by the `meshgate` admin commands.
 *
 * Connection settings are resolved field by field, first found wins:
 *   admin address  `--admin host:port`  > env MESHGATE_ADMIN    > profile `admin`
 *   API key        `--api-key KEY`      > env MESHGATE_API_KEY  > profile `api_key`
 *   account        `--account NAME`     > env MESHGATE_ACCOUNT  > profile `account`
 * The profile (`--profile NAME` > env MESHGATE_PROFILE > `default`) comes from the profile file:
 * `--config-file F` > env MESHGATE_CONFIG > `$XDG_CONFIG_HOME/meshgate/config.yml` >
 * `~/.config/meshgate/config.yml`:
 *
 *   profiles:
 *     default:
 *       admin: 127.0.0.1:4443
 *       api_key: mgak_...
 *       account: acme        # optional; sent as `meshgate-account` (bootstrap admin key)
 *
 * Every call carries `authorization: Bearer <key>` (and `meshgate-account` when set) and a
 * deadline. A failed call becomes a MeshgateError with the server's code and field (trailing
 * metadata `meshgate-error-code` / `meshgate-error-field`), or MG_EDGE_UNREACHABLE naming the
 * address and where it came from when no admin API answers.
 */
import * as grpc from '@grpc/grpc-js';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { Document, isMap, parseDocument } from 'yaml';
import { ERRORS, GrpcStatus, MeshgateError, type ErrorCode, type Issue } from '../core/errors.js';
import {
  AccountServiceClient,
  ApiKeyServiceClient,
  AuthtokenServiceClient,
  DomainServiceClient,
  EndpointServiceClient,
  InspectorServiceClient,
  ServerServiceClient,
} from '../gen/admin.js';

/** How long one admin call may take, connection included. */
export const DEFAULT_DEADLINE_MS = 10_000;

export const ENV = {
  admin: 'MESHGATE_ADMIN',
  apiKey: 'MESHGATE_API_KEY',
  account: 'MESHGATE_ACCOUNT',
  profile: 'MESHGATE_PROFILE',
  configFile: 'MESHGATE_CONFIG',
} as const;

export const DEFAULT_PROFILE = 'default';

/** The connection flags every admin command accepts (all optional). */
export interface ConnectionFlags {
  admin?: string;
  apiKey?: string;
  account?: string;
  profile?: string;
  configFile?: string;
}

/** One profile of the profile file. */
export interface Profile {
  admin?: string;
  apiKey?: string;
  account?: string;
}

/** What the profile file holds, parsed and checked. */
export interface ProfileFile {
  profiles: Record<string, Profile>;
}

/** Where a setting came from, for messages: `--admin`, `MESHGATE_ADMIN`, `profile 'default' (/path)`. */
export type Source = string;

export interface AdminSettings {
  /** `host:port` of the edge's `listen.admin`, or undefined when nothing set it. */
  admin?: string;
  apiKey?: string;
  account?: string;
  profile: string;
  configFile: string;
  /** Whether the profile file exists and has the selected profile. */
  profileFound: boolean;
  sources: { admin?: Source; apiKey?: Source; account?: Source };
  deadlineMs: number;
}

/**
 * The profile file's path: `--config-file` > MESHGATE_CONFIG > $XDG_CONFIG_HOME/meshgate/config.yml
 * (an absolute XDG_CONFIG_HOME only, as the XDG spec says) > ~/.config/meshgate/config.yml.
 */
export function configFilePath(flags: Pick<ConnectionFlags, 'configFile'>, env: NodeJS.ProcessEnv, home: string = homedir()): string {
  if (flags.configFile) return flags.configFile;
  if (env[ENV.configFile]) return env[ENV.configFile]!;
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(home, '.config');
  return join(base, 'meshgate', 'config.yml');
}

const PROFILE_KEYS: Record<string, keyof Profile> = { admin: 'admin', api_key: 'apiKey', account: 'account' };

/** Parses profile-file text; throws MG_CONFIG_INVALID listing every problem with its path. */
export function parseProfileFile(text: string, file: string): ProfileFile {
  const doc = parseDocument(text);
  const issues: Issue[] = doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0], line: e.linePos?.[0]?.line }));
  const out: ProfileFile = { profiles: {} };
  const root = issues.length ? undefined : (doc.toJS() as unknown);
  if (root !== undefined && root !== null) {
    if (typeof root !== 'object' || Array.isArray(root)) issues.push({ path: '', message: 'must be a mapping with a `profiles:` key' });
    else {
      for (const [k, v] of Object.entries(root as Record<string, unknown>)) {
        if (k !== 'profiles') issues.push({ path: k, message: 'unknown key (expected profiles)' });
        else if (v === null || v === undefined) continue;
        else if (typeof v !== 'object' || Array.isArray(v)) issues.push({ path: 'profiles', message: 'must be a mapping of profile name to settings' });
        else {
          for (const [name, p] of Object.entries(v as Record<string, unknown>)) {
            const prof: Profile = {};
            if (p !== null && p !== undefined) {
              if (typeof p !== 'object' || Array.isArray(p)) {
                issues.push({ path: `profiles.${name}`, message: 'must be a mapping with admin, api_key, account' });
                continue;
              }
              for (const [key, val] of Object.entries(p as Record<string, unknown>)) {
                const field = PROFILE_KEYS[key];
                if (!field) issues.push({ path: `profiles.${name}.${key}`, message: 'unknown key (expected admin, api_key, account)' });
                else if (typeof val !== 'string' && typeof val !== 'number') issues.push({ path: `profiles.${name}.${key}`, message: 'must be a string' });
                else if (String(val) !== '') prof[field] = String(val);
              }
            }
            out.profiles[name] = prof;
          }
        }
      }
    }
  }
  if (issues.length) throw new MeshgateError('MG_CONFIG_INVALID', { field: file, issues });
  return out;
}

/** Reads the profile file; a missing file is an empty one. */
export function readProfileFile(file: string): ProfileFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new MeshgateError('MG_CONFIG_INVALID', { field: file, detail: `cannot read: ${(e as Error).message}` });
  }
  return parseProfileFile(text, file);
}

/**
 * Resolves the settings (pure: the file is passed in as a reader). An explicitly chosen profile
 * (`--profile` or MESHGATE_PROFILE) must exist in the file; the implicit `default` need not.
 */
export function resolveSettings(flags: ConnectionFlags, env: NodeJS.ProcessEnv, read: (file: string) => ProfileFile, home?: string): AdminSettings {
  const configFile = configFilePath(flags, env, home);
  const explicitProfile = flags.profile ?? (env[ENV.profile] || undefined);
  const profile = explicitProfile ?? DEFAULT_PROFILE;
  const file = read(configFile);
  const prof = Object.prototype.hasOwnProperty.call(file.profiles, profile) ? file.profiles[profile] : undefined;
  if (explicitProfile !== undefined && !prof) {
    const known = Object.keys(file.profiles);
    throw new MeshgateError('MG_FLAG_INVALID', {
      field: flags.profile !== undefined ? '--profile' : ENV.profile,
      detail: `no profile '${profile}' in ${configFile}${known.length ? ` (profiles: ${known.join(', ')})` : ''}; create it with: meshgate config add-api-key KEY --admin host:port --profile ${profile}`,
    });
  }
  const fromProfile = `profile '${profile}' (${configFile})`;
  const sources: AdminSettings['sources'] = {};
  const pick = (flag: string | undefined, flagName: string, envName: string, profVal: string | undefined, key: keyof AdminSettings['sources']): string | undefined => {
    if (flag !== undefined && flag !== '') return (sources[key] = flagName), flag;
    const e = env[envName];
    if (e) return (sources[key] = envName), e;
    if (profVal) return (sources[key] = fromProfile), profVal;
    return undefined;
  };
  const admin = pick(flags.admin, '--admin', ENV.admin, prof?.admin, 'admin');
  if (admin !== undefined) checkAddress(admin, sources.admin!);
  return {
    admin,
    apiKey: pick(flags.apiKey, '--api-key', ENV.apiKey, prof?.apiKey, 'apiKey'),
    account: pick(flags.account, '--account', ENV.account, prof?.account, 'account'),
    profile,
    configFile,
    profileFound: prof !== undefined,
    sources,
    deadlineMs: DEFAULT_DEADLINE_MS,
  };
}

/** `host:port` or `[v6]:port`, port 1..65535; throws MG_FLAG_INVALID naming where it came from. */
export function checkAddress(addr: string, source: Source): void {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new MeshgateError('MG_FLAG_INVALID', { field: source.startsWith('profile') ? `admin in ${source}` : source, detail: `'${addr}' is not host:port, e.g. 127.0.0.1:4443 (the edge's listen.admin)` });
  }
}

/** A secret for display: its first 4 and last 4 characters, or only stars when it is short. */
export function maskSecret(s: string | undefined): string {
  if (!s) return '';
  return s.length >= 12 ? `${s.slice(0, 4)}****${s.slice(-4)}` : '****';
}

/**
 * Writes `profiles.<profile>.api_key` (and `admin` / `account` when given) into the profile
 * file, keeping other profiles and comments. Creates the directory (0700) and writes the file
 * with mode 0600 through a temporary file and a rename.
 */
export function saveProfile(file: string, profile: string, values: Profile): void {
  let doc: Document;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new MeshgateError('MG_CONFIG_INVALID', { field: file, detail: `cannot read: ${(e as Error).message}` });
  }
  parseProfileFile(text, file); // refuse to rewrite a file we do not understand
  doc = parseDocument(text);
  if (!isMap(doc.contents)) doc = new Document({ profiles: {} });
  if (!isMap(doc.get('profiles'))) doc.set('profiles', doc.createNode({}));
  if (!isMap(doc.getIn(['profiles', profile]))) doc.setIn(['profiles', profile], doc.createNode({}));
  for (const [key, field] of Object.entries(PROFILE_KEYS)) {
    const v = values[field];
    if (v !== undefined) doc.setIn(['profiles', profile, key], v);
  }
  // block style for what we touched, whatever the file had (`profiles: {}` is a flow map)
  for (const path of [['profiles'], ['profiles', profile]]) {
    const node = doc.getIn(path, true);
    if (isMap(node)) node.flow = false;
  }
  const dir = dirname(file);
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${Date.now().toString(36)}-${process.pid}.tmp`);
    writeFileSync(tmp, doc.toString(), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (e) {
    throw new MeshgateError('MG_CONFIG_INVALID', { field: file, detail: `cannot write: ${(e as Error).message}` });
  }
}

// ---------------------------------------------------------------------------------------------
// Calls

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
/** A generated unary method with the (request, metadata, options, callback) signature. */
export type UnaryMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<Res>) => grpc.ClientUnaryCall;

type ClientCtor<C> = new (address: string, creds: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C;

/**
 * One connection to an edge's admin API. Service clients are made on first use and share one
 * channel; `close()` ends it (call it once the command is done, also after a failure).
 */
export class AdminClient {
  private channel?: grpc.Channel;
  private readonly clients = new Map<unknown, grpc.Client>();

  constructor(readonly settings: AdminSettings) {}

  get endpoints(): EndpointServiceClient {
    return this.client(EndpointServiceClient);
  }
  get domains(): DomainServiceClient {
    return this.client(DomainServiceClient);
  }
  get authtokens(): AuthtokenServiceClient {
    return this.client(AuthtokenServiceClient);
  }
  get apiKeys(): ApiKeyServiceClient {
    return this.client(ApiKeyServiceClient);
  }
  get accounts(): AccountServiceClient {
    return this.client(AccountServiceClient);
  }
  get server(): ServerServiceClient {
    return this.client(ServerServiceClient);
  }
  get inspector(): InspectorServiceClient {
    return this.client(InspectorServiceClient);
  }

  /**
   * Runs one unary call with the credentials and the deadline; rejects with a MeshgateError.
   * `method` is the generated client method bound to its client, e.g. `c.endpoints.getEndpoint.bind(c.endpoints)`.
   */
  call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, opts: { auth?: boolean } = {}): Promise<Res> {
    const md = new grpc.Metadata();
    if (opts.auth !== false) {
      if (!this.settings.apiKey) throw missingKey(this.settings);
      md.set('authorization', `Bearer ${this.settings.apiKey}`);
      if (this.settings.account) md.set('meshgate-account', this.settings.account);
    }
    return new Promise((resolve, reject) => {
      method(req, md, { deadline: Date.now() + this.settings.deadlineMs }, (err, res) => (err ? reject(fromServiceError(err, this.settings)) : resolve(res)));
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.channel?.close();
    this.channel = undefined;
  }

  private client<C>(ctor: ClientCtor<C>): C {
    let c = this.clients.get(ctor);
    if (!c) {
      const addr = this.settings.admin;
      if (!addr) throw missingAddress(this.settings);
      const creds = grpc.credentials.createInsecure();
      this.channel ??= new grpc.Channel(addr, creds, {});
      c = new ctor(addr, creds, { channelOverride: this.channel }) as unknown as grpc.Client;
      this.clients.set(ctor, c);
    }
    return c as unknown as C;
  }
}

function missingAddress(s: AdminSettings): MeshgateError {
  return new MeshgateError('MG_FLAG_INVALID', {
    field: '--admin',
    detail: `no admin API address: pass --admin host:port (the edge's listen.admin), set ${ENV.admin}, or save it in profile '${s.profile}' with: meshgate config add-api-key KEY --admin host:port`,
  });
}

function missingKey(s: AdminSettings): MeshgateError {
  return new MeshgateError('MG_FLAG_INVALID', {
    field: '--api-key',
    detail: `no API key: pass --api-key KEY, set ${ENV.apiKey}, or save it in profile '${s.profile}' with: meshgate config add-api-key KEY`,
  });
}

const STATUS_NAME = Object.fromEntries(Object.entries(GrpcStatus).map(([k, v]) => [v, k])) as Record<number, string>;

/** A failed call as a MeshgateError: the server's code, field and message, or a transport failure explained. */
export function fromServiceError(err: grpc.ServiceError, s: Pick<AdminSettings, 'admin' | 'sources' | 'deadlineMs'>): MeshgateError {
  const rawCode = String(err.metadata?.get('meshgate-error-code')[0] ?? '');
  const field = String(err.metadata?.get('meshgate-error-field')[0] ?? '') || undefined;
  if (rawCode && rawCode in ERRORS) {
    return new MeshgateError(rawCode as ErrorCode, { field, message: err.details || ERRORS[rawCode as ErrorCode].message, cause: err });
  }
  const where = `${s.admin}${s.sources.admin ? ` (from ${s.sources.admin})` : ''}`;
  const fix = `check that the edge runs with listen.admin, or point the CLI at it with --admin host:port, ${ENV.admin} or a profile (meshgate config add-api-key KEY --admin host:port)`;
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return new MeshgateError('MG_EDGE_UNREACHABLE', { field: '--admin', detail: `no admin API answers at ${where}: ${transportReason(err.details)}; ${fix}`, cause: err });
    case grpc.status.DEADLINE_EXCEEDED:
      return new MeshgateError('MG_EDGE_UNREACHABLE', { field: '--admin', detail: `the admin API at ${where} did not answer within ${s.deadlineMs / 1000} s; ${fix}`, cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new MeshgateError('MG_EDGE_UNREACHABLE', { field: '--admin', detail: `${where} does not serve this meshgate admin API (${err.details}); is it the edge's listen.admin address, and the same meshgate version?`, cause: err });
    case grpc.status.UNAUTHENTICATED:
      return new MeshgateError('MG_API_KEY_INVALID', { field: 'authorization', detail: err.details, cause: err });
    case grpc.status.PERMISSION_DENIED:
      return new MeshgateError('MG_PERMISSION_DENIED', { detail: err.details, cause: err });
    default: {
      const status = STATUS_NAME[err.code] ?? `gRPC status ${err.code}`;
      return new MeshgateError('MG_INTERNAL', { field, detail: `${status}${rawCode ? ` ${rawCode}` : ''} from ${where}: ${err.details}`, cause: err });
    }
  }
}

/** grpc-js's connection failure text, shortened to its cause: `connect ECONNREFUSED 127.0.0.1:1`. */
export function transportReason(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note: (.*))?$/s.exec(details);
  if (!m) return details;
  return m[2] ? `${m[1]}; ${m[2]}` : m[1];
}
