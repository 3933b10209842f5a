/**
 * `meshgate` entry point: dispatches to one module per command. Each command module exports
 * `run(argv): Promise<number>` (the exit code) and is loaded lazily so that `meshgate agent`
 * never loads the edge's code.
 */
import { isMeshgateError } from '../core/errors.js';
import { isLevel, setLogLevel } from '../core/log.js';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  edge: { summary: 'run an edge node (--config edge.yaml)', load: () => import('./commands/edge.js') },
  agent: { summary: 'run an agent: agent http|tcp <upstream> --url URL, or agent start --config agent.yml', load: () => import('./commands/agent.js') },
  policy: { summary: 'policy validate FILE..., policy test FILE --request "GET https://host/path"', load: () => import('./commands/policy.js') },
  cluster: { summary: 'cluster up: the local demo cluster (edge, demo upstreams, agents, tutorial policy)', load: () => import('./commands/cluster.js') },
  'demo-upstream': { summary: 'run an httpbin-like echo service (--port N --name NAME)', load: () => import('./commands/demo-upstream.js') },
  // admin API clients (--admin host:port, --api-key KEY, or a profile: see `config`)
  endpoints: { summary: 'endpoints create|list|get|update|delete: cloud endpoints (and agent endpoints, read-only)', load: () => import('./commands/endpoints.js') },
  domains: { summary: 'domains create|list|get|delete: reserved domains', load: () => import('./commands/domains.js') },
  authtokens: { summary: 'authtokens create|list|delete: tokens agents authenticate with', load: () => import('./commands/authtokens.js') },
  'api-keys': { summary: 'api-keys create|list|delete: keys admin clients authenticate with', load: () => import('./commands/api-keys.js') },
  accounts: { summary: 'accounts create|list|delete: accounts (bootstrap admin key only)', load: () => import('./commands/accounts.js') },
  server: { summary: 'server info|health: the edge behind --admin', load: () => import('./commands/server.js') },
  inspect: { summary: 'inspect list|get|capture: requests captured by the Traffic Inspector across the cluster', load: () => import('./commands/inspect.js') },
  replay: { summary: 'replay ID [--set-header "N: v"] [--path P] [--body B]: send a captured request again', load: () => import('./commands/replay.js') },
  config: { summary: 'config add-api-key KEY [--admin host:port] [--profile NAME], config show: the admin profile file', load: () => import('./commands/config.js') },
};

function usage(): string {
  const lines = ['usage: meshgate <command> [flags]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(15)} ${c.summary}`);
  lines.push('', 'global flags: --log-level debug|info|warn|error (env MESHGATE_LOG_LEVEL)');
  return lines.join('\n');
}

/** Pulls `--log-level X` / `--log-level=X` out of argv wherever it is. */
function takeLogLevel(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let v: string | undefined;
    if (a === '--log-level') v = argv[++i];
    else if (a.startsWith('--log-level=')) v = a.slice('--log-level='.length);
    else {
      out.push(a);
      continue;
    }
    if (!v || !isLevel(v)) {
      process.stderr.write(`meshgate: --log-level: expected one of debug, info, warn, error, silent; got '${v ?? ''}'\n`);
      process.exit(2);
    }
    setLogLevel(v);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const args = takeLogLevel(argv);
  const name = args[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write('meshgate 0.1.0\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`meshgate: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(args.slice(1));
  } catch (e) {
    if (isMeshgateError(e)) {
      process.stderr.write(`meshgate ${name}: ${e.message} [${e.code}]\n`);
      return e.code === 'MG_FLAG_INVALID' ? 2 : 1;
    }
    process.stderr.write(`meshgate ${name}: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
