import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, systemClock } from '../../devhost/host/clock.js';

/** devhost/host/clock.ts: the clock the durable room reads time through. */

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ManualClock', () => {
  it('stands still until advanced, then fires due timers in due order, each at its own time', () => {
    const clock = new ManualClock(1_000);
    const fired: [string, number][] = [];
    clock.setTimer(300, () => fired.push(['c', clock.now()]));
    clock.setTimer(100, () => fired.push(['a', clock.now()]));
    clock.setTimer(100, () => fired.push(['b', clock.now()]));
    clock.setTimer(500, () => fired.push(['late', clock.now()]));
    expect(clock.now()).toBe(1_000);
    expect(clock.nextTimerAt()).toBe(1_100);

    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(301);
    expect(fired).toEqual([
      ['a', 1_100],
      ['b', 1_100],
      ['c', 1_300],
    ]);
    expect(clock.now()).toBe(1_400);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires timers set by a firing timer within the same advance', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(10, () => {
      fired.push(clock.now());
      clock.setTimer(10, () => fired.push(clock.now()));
    });
    clock.advanceTo(25);
    expect(fired).toEqual([10, 20]);
  });

  it('does not fire a cancelled timer', () => {
    const clock = new ManualClock(0);
    let fired = false;
    const timer = clock.setTimer(10, () => (fired = true));
    timer.cancel();
    timer.cancel();
    clock.advance(20);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('fires a timer that is already due on the next turn, without an advance and never inside setTimer', async () => {
    const clock = new ManualClock(0);
    let fired = 0;
    clock.setTimer(0, () => fired++);
    clock.setTimer(-5, () => fired++);
    expect(fired).toBe(0);
    await nextTurn();
    expect(fired).toBe(2);
    expect(clock.now()).toBe(0);
  });

  it('refuses to go back in time', () => {
    const clock = new ManualClock(1_000);
    expect(() => clock.advanceTo(999)).toThrow(RangeError);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('skips to the next timer whenever the system is idle, and holds while it is busy', async () => {
    const clock = new ManualClock(0);
    let busy: Promise<void> | undefined;
    const whenIdle = (): Promise<void> => busy ?? Promise.resolve();
    const fired: number[] = [];
    let release: () => void = () => {};
    clock.setTimer(60_000, () => {
      fired.push(clock.now());
      // The first timer starts work that holds time still until it is released.
      busy = new Promise<void>((resolve) => {
        release = () => {
          busy = undefined;
          resolve();
        };
      });
    });
    clock.setTimer(3_600_000, () => fired.push(clock.now()));
    const stop = clock.autoAdvance(whenIdle);
    try {
      while (fired.length < 1) await nextTurn();
      for (let i = 0; i < 5; i++) await nextTurn();
      expect(fired).toEqual([60_000]);
      expect(clock.now()).toBe(60_000);
      release();
      while (fired.length < 2) await nextTurn();
      expect(fired).toEqual([60_000, 3_600_000]);
      // With nothing pending it waits for the next timer to be set.
      const later = new Promise<number>((resolve) => clock.setTimer(1_000, () => resolve(clock.now())));
      expect(await later).toBe(3_601_000);
    } finally {
      stop();
    }
    clock.setTimer(5, () => fired.push(-1));
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(clock.now()).toBe(3_601_000);
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads real time and fires a timer past the 24.8-day limit of setTimeout at its due time', () => {
    vi.useFakeTimers({ now: 0 });
    expect(systemClock.now()).toBe(0);
    const thirtyDaysMs = 30 * 24 * 3_600_000;
    let firedAt: number | undefined;
    systemClock.setTimer(thirtyDaysMs, () => (firedAt = Date.now()));
    vi.advanceTimersByTime(thirtyDaysMs - 1);
    expect(firedAt).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(firedAt).toBe(thirtyDaysMs);
  });

  it('cancels a long timer across its re-arms', () => {
    vi.useFakeTimers({ now: 0 });
    let fired = false;
    const timer = systemClock.setTimer(40 * 24 * 3_600_000, () => (fired = true));
    vi.advanceTimersByTime(30 * 24 * 3_600_000);
    timer.cancel();
    vi.advanceTimersByTime(20 * 24 * 3_600_000);
    expect(fired).toBe(false);
  });
});
