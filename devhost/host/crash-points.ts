/**
 * Crash points, for fault-injection tests: the devhost kills itself (SIGKILL, no cleanup) at a
 * chosen step boundary, the way a machine dies. Set `DEVHOST_CRASH_AFTER` to a comma-separated
 * list of `<function>[~<text>]#<n>`: right after the n-th invocation of `<function>` returned
 * (and, with `~<text>`, only counting invocations whose response contains `<text>`), before the
 * host has stored or acted on its result. The function's own side effects have happened; its
 * result is lost, so Durable runs it again on restart (at-least-once), exactly as after a crash.
 *
 * Example: `agentCallModel#3` (the third model call answered, its result never recorded),
 * `agentRun~"actionType":4#1` (the first orchestrator episode that decided continue-as-new).
 * Unset (the default) costs nothing.
 */
export interface CrashPoint {
  functionName: string;
  contains: string | undefined;
  after: number;
}

export function parseCrashPoints(spec: string | undefined): CrashPoint[] {
  if (spec === undefined || spec.trim() === '') return [];
  return spec.split(',').map((raw) => {
    const match = /^([^~#]+)(?:~(.+))?#(\d+)$/.exec(raw.trim());
    if (!match?.[1] || !match[3]) throw new Error(`DEVHOST_CRASH_AFTER: "${raw}" is not <function>[~<text>]#<n>`);
    return { functionName: match[1], contains: match[2], after: Number(match[3]) };
  });
}

/** Counts invocations against the crash points; `check` kills the process when one is reached. */
export function createCrashPlan(points: readonly CrashPoint[], onCrash: (point: CrashPoint) => void): ((functionName: string, response: () => string) => void) | undefined {
  if (points.length === 0) return undefined;
  const counts = points.map(() => 0);
  return (functionName, response) => {
    let text: string | undefined;
    points.forEach((point, i) => {
      if (point.functionName !== functionName) return;
      if (point.contains !== undefined && !(text ??= response()).includes(point.contains)) return;
      counts[i] = (counts[i] ?? 0) + 1;
      if (counts[i] === point.after) onCrash(point);
    });
  };
}
