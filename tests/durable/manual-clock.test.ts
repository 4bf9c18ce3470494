import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventType, type HistoryEvent } from '../../devhost/durable/history.js';
import { ManualClock } from '../../devhost/host/clock.js';
import { outputOf, startDurableHarness, type DurableHarness } from './durable-test-kit.js';

/**
 * Durable time on a ManualClock (createDurableExtension(services, { clock })): history
 * timestamps, `currentUtcDateTime` and timer firing follow the clock, so hours and days of
 * durable timers take no real time, and "not before" can be checked exactly. Were the engine
 * to read the wall clock, these timers would not fire within the harness's 10-second wait.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const clock = new ManualClock();
let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness({ clock });
});
afterAll(async () => {
  await h?.stop();
});

const timersOf = (history: HistoryEvent[]): HistoryEvent[] => history.filter((e) => e.EventType === EventType.TimerCreated);

/** Resolves once the instance has `count` TimerCreated events and the engine is idle. */
async function untilTimers(id: string, count: number): Promise<void> {
  await h.until(id, (b) => ((b['historyEvents'] ?? []) as { EventType: string }[]).filter((e) => e.EventType === 'TimerCreated').length >= count);
  await h.durable.waitForIdle();
}

describe('durable timers on a manual clock', () => {
  it('fires a one-hour timer once the clock reaches its due time, and not a millisecond before', async () => {
    const startedAt = clock.now();
    const id = await h.start('durableTimer', { delayMs: HOUR_MS });
    await untilTimers(id, 1);
    const [created] = timersOf(h.durable.engine.history(id));
    expect(Date.parse(created?.FireAt ?? '')).toBe(startedAt + HOUR_MS);
    expect(Date.parse(created?.Timestamp ?? '')).toBe(startedAt);

    clock.advance(HOUR_MS - 1);
    await h.durable.waitForIdle();
    expect((await h.status(id)).body['runtimeStatus']).toBe('Running');
    expect(h.durable.engine.history(id).some((e) => e.EventType === EventType.TimerFired)).toBe(false);

    clock.advance(1);
    const record = await h.finished(id);
    // The orchestrator measured the wait with currentUtcDateTime: exactly the clock's hour.
    expect(outputOf(record)).toBe(HOUR_MS);
    const fired = h.durable.engine.history(id).find((e) => e.EventType === EventType.TimerFired);
    expect(Date.parse(fired?.Timestamp ?? '')).toBe(startedAt + HOUR_MS);
    expect(record.updatedAt).toBe(startedAt + HOUR_MS);
    // Status times are the clock's too.
    const { body } = await h.status(id);
    expect(body['createdTime']).toBe(`${new Date(startedAt).toISOString().slice(0, 19)}Z`);
    expect(body['lastUpdatedTime']).toBe(`${new Date(startedAt + HOUR_MS).toISOString().slice(0, 19)}Z`);
  });

  it('keeps an instance Running on an uncancelled timer until the clock passes it', async () => {
    const startedAt = clock.now();
    const id = await h.start('approvalOrTimeout', { timeoutMs: 2 * HOUR_MS, cancelTimer: false });
    await untilTimers(id, 1);
    expect(await h.raise(id, 'approve', 'yes')).toBe(202);
    await h.durable.waitForIdle();
    // The event won the Task.any, but the open timer keeps the instance Running.
    expect((await h.status(id)).body['runtimeStatus']).toBe('Running');

    clock.advanceTo(startedAt + 2 * HOUR_MS);
    const record = await h.finished(id);
    expect(outputOf(record)).toEqual({ approved: 'yes' });
    expect(record.updatedAt).toBe(startedAt + 2 * HOUR_MS);
  });

  it("skips a 10-day timer (past the SDK's 6-day maximum short timer) while the engine is idle", async () => {
    const startedAt = clock.now();
    const stopSkipping = clock.autoAdvance(() => h.durable.waitForIdle());
    try {
      const id = await h.start('durableTimer', { delayMs: 10 * DAY_MS });
      const record = await h.finished(id);
      expect(outputOf(record)).toBe(10 * DAY_MS);
      const fired = h.durable.engine.history(id).filter((e) => e.EventType === EventType.TimerFired);
      expect(fired.length).toBeGreaterThanOrEqual(1);
      expect(Date.parse(fired[fired.length - 1]?.Timestamp ?? '')).toBe(startedAt + 10 * DAY_MS);
      expect(clock.now()).toBe(startedAt + 10 * DAY_MS);
    } finally {
      stopSkipping();
    }
  });
});
