import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`); 100 on every Linux in use. */
function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

let ticksPerSecond: number | undefined;

interface ProcStat {
  ppid: number;
  /** utime + stime, ticks. */
  own: number;
  /** cutime + cstime (children it has reaped), ticks. */
  reaped: number;
}

/** Fields of /proc/<pid>/stat, or undefined when the process is gone. */
function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5): field n is fields[n - 3].
  const at = (n: number) => Number(fields[n - 3]);
  return { ppid: at(4), own: at(14) + at(15), reaped: at(16) + at(17) };
}

/**
 * CPU time, in milliseconds, that a process and every process under it have used so far,
 * including children they have already reaped. Two readings around a run give the CPU a daemon
 * family such as Postfix's (master, smtpd, cleanup, qmgr, smtp…) spent on it, short-lived
 * children included. Linux only; undefined elsewhere or when the process is gone.
 */
export function processTreeCpuMs(rootPid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  ticksPerSecond ??= clockTicks();
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  if (!stats.has(rootPid)) return undefined;
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = stats.get(p)?.ppid) {
      if (p === rootPid) return true;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, stat] of stats) if (inTree(pid)) ticks += stat.own + stat.reaped;
  return (ticks / ticksPerSecond) * 1000;
}

/** The file system a path lives on, e.g. `ext4 (/dev/vda)`, from /proc/self/mountinfo; undefined when unknown. */
export function filesystemOf(file: string): { type: string; source: string } | undefined {
  let mountinfo: string;
  let real: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    real = realpathSync(file);
  } catch {
    return undefined;
  }
  let best: { point: string; type: string; source: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    // `id parent major:minor root mount-point options [optional…] - type source super-options`
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4];
    const [type, source] = right?.split(' ') ?? [];
    if (!point || !type || source === undefined) continue;
    const covers = point === '/' || real === point || real.startsWith(`${point}/`);
    if (covers && (!best || point.length >= best.point.length)) best = { point, type, source };
  }
  return best && { type: best.type, source: best.source };
}
