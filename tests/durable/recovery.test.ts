import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventType } from '../../devhost/durable/history.js';
import { ManualClock } from '../../devhost/host/clock.js';
import { readDevhostKeys, withCode } from '../helpers/devhost-keys.js';
import { devhostCliPath, spawnDevhost, type SpawnedDevhost } from '../helpers/spawn-devhost.js';
import { durableAppDir, outputOf, startDurableHarness } from './durable-test-kit.js';
import { eventually } from '../helpers/eventually.js';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'durable-recovery-'));
  dirs.push(dir);
  return join(dir, 'devhost.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sumOfSquares = (n: number): number => (n * (n + 1) * (2 * n + 1)) / 6;

describe('recovery after a restart on the same database file', () => {
  it('finishes a fan-out that was stopped midway', async () => {
    const storage = tempDb();
    const first = await startDurableHarness({ storage });
    const id = await first.start('slowFanOut', { count: 24, delayMs: 15 });
    // stop once some, but not all, results are in
    await first.until(id, (b) => ((b['historyEvents'] ?? []) as { EventType: string }[]).filter((e) => e.EventType === 'TaskCompleted').length >= 4);
    await first.stop();

    const second = await startDurableHarness({ storage });
    try {
      const record = await second.finished(id);
      expect(outputOf(record)).toEqual({ total: sumOfSquares(24), confirmation: `Hello total ${sumOfSquares(24)}!` });
      const completed = second.durable.engine.history(id).filter((e) => e.EventType === EventType.TaskCompleted);
      // every task completed exactly once in the history
      expect(new Set(completed.map((e) => e.TaskScheduledId)).size).toBe(completed.length);
      expect(completed.length).toBe(25);
    } finally {
      await second.stop();
    }
  });

  it('fires a timer that came due while the host was down, at once', async () => {
    // Durable time on a manual clock: it moves only here, so the restarted host can fire the
    // timer only because it came due while the host was down (nothing advances it afterwards).
    const clock = new ManualClock();
    const storage = tempDb();
    const first = await startDurableHarness({ storage, clock });
    const id = await first.start('durableTimer', { delayMs: 3_600_000 });
    await first.until(id, (b) => ((b['historyEvents'] ?? []) as { EventType: string }[]).some((e) => e.EventType === 'TimerCreated'));
    await first.stop();
    clock.advance(2 * 3_600_000);

    const second = await startDurableHarness({ storage, clock });
    try {
      const record = await second.finished(id);
      // The orchestrator woke up two hours after it started: when the host came back.
      expect(outputOf(record)).toBe(2 * 3_600_000);
    } finally {
      await second.stop();
    }
  });

  it('keeps raised events and pending entity operations', async () => {
    const storage = tempDb();
    const first = await startDurableHarness({ storage });
    const id = await first.start('eventCollector', { max: 2 });
    await first.until(id, (b) => b['runtimeStatus'] === 'Running');
    await first.raise(id, 'tick', 'before restart');
    await first.client('signalEntity', 'Counter', 'persisted', 'add', 11);
    await first.stop();

    const second = await startDurableHarness({ storage });
    try {
      await second.raise(id, 'tick', 'after restart');
      const record = await second.finished(id);
      expect(outputOf(record)).toEqual(['before restart', 'after restart']);
      await second.durable.waitForIdle();
      expect((await second.client('readEntityState', 'Counter', 'persisted')).value).toEqual({ entityExists: true, entityState: 11 });
    } finally {
      await second.stop();
    }
  });
});

const cli = devhostCliPath;

describe.skipIf(!existsSync(cli))('crash recovery of the devhost CLI (SIGKILL)', () => {
  it('completes a 50-way fan-out killed midway, without redoing completed activities', async () => {
    const storage = tempDb();
    const log = join(storage, '..', 'activities.log');
    const args = ['--app', durableAppDir, '--storage', storage, '--log-level', 'warn'];
    const env = { DURABLE_ACTIVITY_LOG: log };
    let host: SpawnedDevhost | undefined = await spawnDevhost(args, env);
    try {
      const base = `${host.url}/runtime/webhooks/durabletask`;
      const key = readDevhostKeys(storage).masterKey;
      const start = await fetch(withCode(`${base}/orchestrators/slowFanOut`, key), { method: 'POST', body: JSON.stringify({ count: 50, delayMs: 40 }) });
      expect(start.status).toBe(202);
      const { id } = (await start.json()) as { id: string };

      // Kill once part of the fan-out has been recorded.
      const recordedBeforeKill = await eventually(
        'ten fan-out results recorded',
        async () => {
          const res = await fetch(withCode(`${base}/instances/${id}?showHistory=true&showInput=true`, key));
          const body = (await res.json()) as { historyEvents?: { EventType: string; Input?: string }[] };
          const done = (body.historyEvents ?? []).filter((e) => e.EventType === 'TaskCompleted' && e.Input?.includes('"delayMs"'));
          return done.length >= 10 ? done.map((e) => (JSON.parse(e.Input ?? '{}') as { n: number }).n) : undefined;
        },
        { timeoutMs: 15_000 },
      );
      expect(recordedBeforeKill.length).toBeLessThan(50);
      const firstPid = host.child.pid;
      await host.kill();
      host = undefined;

      host = await spawnDevhost(args, env);
      const restarted = host;
      const finalStatus = await eventually(
        'the instance to finish after the restart',
        async () => {
          const res = await fetch(withCode(`${restarted.url}/runtime/webhooks/durabletask/instances/${id}`, key));
          const body = (await res.json()) as { runtimeStatus: string; output: unknown };
          return res.status === 200 ? body : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 20 },
      );
      expect(finalStatus.runtimeStatus).toBe('Completed');
      expect(finalStatus.output).toEqual({ total: sumOfSquares(50), confirmation: `Hello total ${sumOfSquares(50)}!` });

      // Activities whose results were recorded before the kill did not run again; every
      // activity ran in one process or the other (those cut off by the kill ran again).
      const runs = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' '));
      const rerun = runs.filter(([pid]) => pid !== String(firstPid)).map(([, n]) => Number(n));
      expect(rerun.filter((n) => recordedBeforeKill.includes(n))).toEqual([]);
      expect(rerun.length).toBeGreaterThan(0);
      expect(new Set(runs.map(([, n]) => Number(n))).size).toBe(50);
      const history = await fetch(withCode(`${restarted.url}/runtime/webhooks/durabletask/instances/${id}?showHistory=true`, key));
      const events = ((await history.json()) as { historyEvents: { EventType: string; FunctionName?: string }[] }).historyEvents;
      expect(events.filter((e) => e.EventType === 'TaskCompleted' && e.FunctionName === 'slowSquare').length).toBe(50);
    } finally {
      await host?.stop();
    }
  }, 60_000);
});
