import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkAddress,
  configFilePath,
  fromServiceError,
  maskSecret,
  parseProfileFile,
  readProfileFile,
  resolveSettings,
  saveProfile,
  transportReason,
  type ProfileFile,
} from '../../services/admin/admin-client.js';
import { isMeshgateError, type MeshgateError } from '../../services/core/errors.js';

const FILE: ProfileFile = {
  profiles: {
    default: { admin: 'profile-host:1000', apiKey: 'profile-key', account: 'profile-account' },
    work: { admin: 'work-host:2000', apiKey: 'work-key' },
  },
};
const reader = (f: ProfileFile) => () => f;

function thrown(fn: () => unknown): MeshgateError {
  try {
    fn();
  } catch (e) {
    assert.ok(isMeshgateError(e), String(e));
    return e;
  }
  assert.fail('did not throw');
}

describe('admin CLI settings resolution', () => {
  it('takes flags over env over the profile, field by field', () => {
    const env = { MESHGATE_API_KEY: 'env-key' };
    const s = resolveSettings({ admin: 'flag-host:3000' }, env, reader(FILE), '/home/u');
    assert.equal(s.admin, 'flag-host:3000');
    assert.equal(s.apiKey, 'env-key');
    assert.equal(s.account, 'profile-account');
    assert.deepEqual(s.sources, { admin: '--admin', apiKey: 'MESHGATE_API_KEY', account: "profile 'default' (/home/u/.config/meshgate/config.yml)" });
    assert.equal(s.profile, 'default');
    assert.equal(s.profileFound, true);
  });

  it('uses env over the profile when no flag is given, and ignores empty env values', () => {
    const s = resolveSettings({}, { MESHGATE_ADMIN: 'env-host:1', MESHGATE_API_KEY: '', MESHGATE_ACCOUNT: 'env-acct' }, reader(FILE), '/h');
    assert.equal(s.admin, 'env-host:1');
    assert.equal(s.apiKey, 'profile-key');
    assert.equal(s.account, 'env-acct');
  });

  it('selects a profile with --profile or MESHGATE_PROFILE, the flag first', () => {
    assert.equal(resolveSettings({ profile: 'work' }, { MESHGATE_PROFILE: 'default' }, reader(FILE), '/h').admin, 'work-host:2000');
    const s = resolveSettings({}, { MESHGATE_PROFILE: 'work' }, reader(FILE), '/h');
    assert.equal(s.apiKey, 'work-key');
    assert.equal(s.account, undefined, 'work has no account and nothing else sets one');
  });

  it('refuses an explicitly chosen profile that does not exist, listing the ones that do', () => {
    const e = thrown(() => resolveSettings({ profile: 'ghost' }, {}, reader(FILE), '/h'));
    assert.equal(e.code, 'MG_FLAG_INVALID');
    assert.equal(e.field, '--profile');
    assert.match(e.message, /no profile 'ghost'.*\(profiles: default, work\)/);
    assert.equal(thrown(() => resolveSettings({}, { MESHGATE_PROFILE: 'ghost' }, reader(FILE), '/h')).field, 'MESHGATE_PROFILE');
  });

  it('is fine without a file or a default profile: nothing is set', () => {
    const s = resolveSettings({}, {}, reader({ profiles: {} }), '/h');
    assert.equal(s.admin, undefined);
    assert.equal(s.apiKey, undefined);
    assert.equal(s.profileFound, false);
  });

  it('finds the file from --config-file, MESHGATE_CONFIG, an absolute XDG_CONFIG_HOME, then ~/.config', () => {
    assert.equal(configFilePath({ configFile: '/x/c.yml' }, { MESHGATE_CONFIG: '/y/c.yml' }, '/h'), '/x/c.yml');
    assert.equal(configFilePath({}, { MESHGATE_CONFIG: '/y/c.yml', XDG_CONFIG_HOME: '/xdg' }, '/h'), '/y/c.yml');
    assert.equal(configFilePath({}, { XDG_CONFIG_HOME: '/xdg' }, '/h'), '/xdg/meshgate/config.yml');
    assert.equal(configFilePath({}, { XDG_CONFIG_HOME: 'relative' }, '/h'), '/h/.config/meshgate/config.yml');
    assert.equal(configFilePath({}, {}, '/h'), '/h/.config/meshgate/config.yml');
  });

  it('checks the admin address, naming where it came from', () => {
    checkAddress('127.0.0.1:4443', '--admin');
    checkAddress('[::1]:4443', '--admin');
    checkAddress('edge.example.com:1', '--admin');
    for (const bad of ['nowhere', '127.0.0.1', '127.0.0.1:0', 'h:70000', 'http://h:1', ':80']) {
      assert.equal(thrown(() => checkAddress(bad, 'MESHGATE_ADMIN')).field, 'MESHGATE_ADMIN', bad);
    }
    const e = thrown(() => resolveSettings({}, {}, reader({ profiles: { default: { admin: 'oops' } } }), '/h'));
    assert.match(e.field!, /^admin in profile 'default'/);
  });

  it('masks secrets, keeping only the ends of long ones', () => {
    assert.equal(maskSecret('mgak_abcdefghijklmnop'), 'mgak****mnop');
    assert.equal(maskSecret('short'), '****');
    assert.equal(maskSecret(undefined), '');
  });
});

describe('admin CLI profile file', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'meshgate-profiles-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses profiles and refuses unknown keys and wrong shapes with their paths', () => {
    assert.deepEqual(parseProfileFile('profiles:\n  a: {admin: "h:1", api_key: k, account: x}\n  b:\n', 'f'), {
      profiles: { a: { admin: 'h:1', apiKey: 'k', account: 'x' }, b: {} },
    });
    assert.deepEqual(parseProfileFile('', 'f'), { profiles: {} });
    const e = thrown(() => parseProfileFile('profiles:\n  a: {apikey: k, admin: [1]}\nextra: 1\n', '/f.yml'));
    assert.equal(e.code, 'MG_CONFIG_INVALID');
    assert.deepEqual(e.issues.map((i) => i.path), ['profiles.a.apikey', 'profiles.a.admin', 'extra']);
    assert.equal(thrown(() => parseProfileFile('profiles: [', 'f')).code, 'MG_CONFIG_INVALID');
  });

  it('saves a profile with mode 0600 in a new directory, keeping other profiles and comments', () => {
    const file = join(dir, 'a', 'b', 'config.yml');
    saveProfile(file, 'default', { apiKey: 'k1', admin: 'h:1' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
    writeFileSync(file, readFileSync(file, 'utf8') + '# my comment\n');
    saveProfile(file, 'work', { apiKey: 'k2', account: 'acme' });
    saveProfile(file, 'default', { apiKey: 'k3' });
    assert.deepEqual(readProfileFile(file), { profiles: { default: { admin: 'h:1', apiKey: 'k3' }, work: { apiKey: 'k2', account: 'acme' } } });
    assert.match(readFileSync(file, 'utf8'), /# my comment/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('writes block style even into a file that says `profiles: {}`', () => {
    const file = join(dir, 'flow.yml');
    writeFileSync(file, 'profiles: {}\n');
    saveProfile(file, 'default', { apiKey: 'k' });
    assert.equal(readFileSync(file, 'utf8'), 'profiles:\n  default:\n    api_key: k\n');
  });

  it('refuses to rewrite a file it cannot parse', () => {
    const file = join(dir, 'broken.yml');
    writeFileSync(file, 'profiles: [\n');
    assert.equal(thrown(() => saveProfile(file, 'default', { apiKey: 'k' })).code, 'MG_CONFIG_INVALID');
    assert.equal(readFileSync(file, 'utf8'), 'profiles: [\n');
  });

  it('reads a missing file as empty', () => {
    assert.deepEqual(readProfileFile(join(dir, 'none.yml')), { profiles: {} });
  });
});

describe('admin CLI gRPC errors', () => {
  const settings = { admin: '127.0.0.1:9', sources: { admin: 'MESHGATE_ADMIN' }, deadlineMs: 10_000 };
  const serviceError = (code: grpc.status, details: string, md: Record<string, string> = {}): grpc.ServiceError => {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return Object.assign(new Error(details), { code, details, metadata });
  };

  it('keeps the server code, field and message', () => {
    const e = fromServiceError(
      serviceError(grpc.status.INVALID_ARGUMENT, 'traffic_policy: the Traffic Policy is invalid\n  traffic_policy.x: bad', { 'meshgate-error-code': 'MG_POLICY_INVALID', 'meshgate-error-field': 'traffic_policy' }),
      settings,
    );
    assert.equal(e.code, 'MG_POLICY_INVALID');
    assert.equal(e.field, 'traffic_policy');
    assert.equal(e.message, 'traffic_policy: the Traffic Policy is invalid\n  traffic_policy.x: bad');
  });

  it('explains an unreachable edge with the address, where it came from and the fix', () => {
    const e = fromServiceError(serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:9. Resolution note: '), settings);
    assert.equal(e.code, 'MG_EDGE_UNREACHABLE');
    assert.match(e.message, /no admin API answers at 127\.0\.0\.1:9 \(from MESHGATE_ADMIN\): connect ECONNREFUSED 127\.0\.0\.1:9; check/);
    assert.match(e.message, /--admin host:port/);
    assert.equal(fromServiceError(serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'), settings).code, 'MG_EDGE_UNREACHABLE');
  });

  it('maps statuses without a meshgate code', () => {
    assert.equal(fromServiceError(serviceError(grpc.status.UNAUTHENTICATED, 'no'), settings).code, 'MG_API_KEY_INVALID');
    assert.equal(fromServiceError(serviceError(grpc.status.PERMISSION_DENIED, 'no'), settings).code, 'MG_PERMISSION_DENIED');
    assert.equal(fromServiceError(serviceError(grpc.status.UNIMPLEMENTED, 'no'), settings).code, 'MG_EDGE_UNREACHABLE');
    const e = fromServiceError(serviceError(grpc.status.INTERNAL, 'boom', { 'meshgate-error-code': 'MG_FROM_THE_FUTURE' }), settings);
    assert.equal(e.code, 'MG_INTERNAL');
    assert.match(e.message, /INTERNAL MG_FROM_THE_FUTURE from 127\.0\.0\.1:9/);
  });

  it('shortens grpc-js connection failures to their cause', () => {
    assert.equal(transportReason('No connection established. Last error: Error: connect ECONNREFUSED 1.2.3.4:5. Resolution note: '), 'connect ECONNREFUSED 1.2.3.4:5');
    assert.equal(transportReason('No connection established. Last error: null. Resolution note: DNS failed'), 'null; DNS failed');
    assert.equal(transportReason('something else'), 'something else');
  });
});
