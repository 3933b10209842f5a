/**
 * CPU accounting from /proc, as in the perf baseline: a process's CPU time is utime + stime
 * (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of `getconf CLK_TCK`), summed over the
 * process and its descendants (an nginx master and its worker). Take a {@link CpuSample} before
 * and after the measured window; the difference divided by the requests served is µs/request.
 * Per-CPU busy time comes from /proc/stat, to see whether a core saturated.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost always). */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Stat {
  ppid: number;
  /** utime + stime. */
  ticks: number;
  /** cutime + cstime: CPU of children this process has waited for (e.g. finished wrk runs). */
  reaped: number;
}

/** ppid, own and reaped children's CPU ticks of one process, or undefined if it has gone. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
}

/** `root` and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st === undefined) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const tree: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    tree.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU time per pid, in ticks, at one instant (key -pid: the root's reaped children). */
export type CpuSample = Map<number, number>;

/** Samples utime+stime of `root`'s whole process tree, plus the children `root` has reaped. */
export function sampleTree(root: number): CpuSample {
  const sample: CpuSample = new Map();
  for (const pid of processTree(root)) {
    const st = readStat(pid);
    if (st === undefined) continue;
    sample.set(pid, st.ticks);
    if (pid === root) sample.set(-pid, st.reaped);
  }
  return sample;
}

/**
 * CPU seconds used between two samples of one tree. A process present only in `after` counts
 * from zero; one that disappeared counts nothing for the window (its time is lost, which does
 * not happen during a run: nginx and meshgate keep their processes).
 */
export function cpuSeconds(before: CpuSample, after: CpuSample): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks / CLK_TCK;
}

/**
 * Ticks per CPU ("cpu0", "cpu1", ...) from /proc/stat: `busy` = everything but idle and iowait;
 * `task` = user + nice + system, the part charged to processes (irq/softirq are not, and
 * loopback traffic spends softirq time on behalf of the processes under test).
 */
export type CpuTimes = Map<string, { busy: number; task: number; total: number }>;

export function sampleCpus(): CpuTimes {
  const times: CpuTimes = new Map();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user.
    const v = m[2]!.split(/\s+/).slice(0, 8).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    times.set(m[1]!, { busy: total - v[3]! - v[4]!, task: v[0]! + v[1]! + v[2]!, total });
  }
  return times;
}

/** Busy percentage of each CPU between two samples, e.g. { cpu0: 99.1, cpu1: 61.0 }. */
export function busyPercent(before: CpuTimes, after: CpuTimes): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cpu, a] of after) {
    const b = before.get(cpu);
    if (b === undefined || a.total === b.total) continue;
    out[cpu] = Math.round((1000 * (a.busy - b.busy)) / (a.total - b.total)) / 10;
  }
  return out;
}

/**
 * Cores used by processes outside `ours` (CPU seconds of our process trees over the window)
 * during a window of `seconds`: other workloads on the machine distort a run.
 */
export function foreignCores(before: CpuTimes, after: CpuTimes, ours: number, seconds: number): number {
  let ticks = 0;
  for (const [cpu, a] of after) ticks += a.task - (before.get(cpu)?.task ?? a.task);
  return Math.max(0, ticks / CLK_TCK - ours) / seconds;
}
