/**
 * The V8 flags meshgate's long-running processes (edge, agent, the local cluster's children)
 * are started with. They must be on the node command line (V8 sizes its heap at start-up;
 * v8.setFlagsFromString later has no effect on it), so they appear in four places, checked
 * equal by test/unit/node-flags.test.ts: here (the local cluster and the bench launch with
 * these), the shebang of bin/meshgate, and both systemd units.
 *
 * --max-semi-space-size=32: V8's young generation, where a proxy's per-request objects are
 * born and (almost all) die. Node 20's default semi-space grows to 16 MB and shrinks back when
 * the process idles; at ten thousand requests a second a small nursery is scavenged every few
 * ms, and requests in flight at each scavenge are copied and soon promoted to the old
 * generation, which only a full GC reclaims. Measured with the proxy bench's pattern (edge and
 * agent on one core, 50 connections, rounds separated by idle periods): +6 % req/s untraced,
 * +12 % with tracing on, for up to 32 MB more young generation per process under load.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=32']);
