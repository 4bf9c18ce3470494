/**
 * Time for the devhost's durable room: the current time and one-shot timers. The durable engine,
 * its timer wheel and its entity scheduler take a {@link Clock} (`createDurableExtension(services,
 * { clock })`) instead of reading `Date.now()` and calling `setTimeout` themselves, so tests can
 * run a 24-hour durable timer in no time on a {@link ManualClock}. The default is
 * {@link systemClock}.
 */

/** A timer started by {@link Clock.setTimer}. */
export interface ClockTimer {
  /** Stops the timer; a no-op once it has fired or been cancelled. */
  cancel(): void;
}

export interface Clock {
  /** The current time, epoch ms. */
  now(): number;
  /**
   * Calls `fire` once, `delayMs` from now; on a later turn of the event loop (never inside this
   * call) when `delayMs` is 0 or negative. Any delay is allowed (no 24.8-day cap).
   */
  setTimer(delayMs: number, fire: () => void): ClockTimer;
}

/** Node caps a timeout at 2^31-1 ms (about 24.8 days); longer waits re-arm. */
const MAX_NODE_DELAY_MS = 2_147_483_647;

/** Real time: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs: number, fire: () => void): ClockTimer {
    if (delayMs <= MAX_NODE_DELAY_MS) {
      const timer = setTimeout(fire, Math.max(0, delayMs));
      return { cancel: () => clearTimeout(timer) };
    }
    const dueAt = Date.now() + delayMs;
    let timer: NodeJS.Timeout;
    const arm = (remainingMs: number): void => {
      timer = remainingMs > MAX_NODE_DELAY_MS ? setTimeout(() => arm(dueAt - Date.now()), MAX_NODE_DELAY_MS) : setTimeout(fire, Math.max(0, remainingMs));
    };
    arm(delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

interface ManualTimer {
  dueAt: number;
  seq: number;
  fire: () => void;
}

/** 2026-01-01T00:00:00Z: a fixed start, so histories and failures read the same on every run. */
const DEFAULT_START_MS = Date.UTC(2026, 0, 1);

/**
 * A clock for tests: time stands still until the test moves it. `advance(ms)` / `advanceTo(t)`
 * fire the timers that come due on the way, in due order (ties in the order they were set), each
 * seeing `now()` equal to its due time. Timers already due when set (delay <= 0) fire on the next
 * turn of the event loop without any advance, as `setTimeout(fn, 0)` does. With
 * {@link ManualClock.autoAdvance} time skips to the next timer whenever the system is idle.
 *
 * The event loop itself is real: promises, `setImmediate` and I/O run as usual.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  /** Pending timers, sorted by (dueAt, seq). Tests hold a handful, so a sorted array will do. */
  readonly #timers: ManualTimer[] = [];
  #dueFlushScheduled = false;
  #onTimerSet: (() => void)[] = [];

  constructor(startMs: number = DEFAULT_START_MS) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fire: () => void): ClockTimer {
    const timer: ManualTimer = { dueAt: this.#now + Math.max(0, delayMs), seq: this.#seq++, fire };
    let at = this.#timers.length;
    while (at > 0 && (this.#timers[at - 1] as ManualTimer).dueAt > timer.dueAt) at--;
    this.#timers.splice(at, 0, timer);
    if (timer.dueAt <= this.#now) this.#scheduleDueFlush();
    for (const notify of this.#onTimerSet.splice(0)) notify();
    return {
      cancel: () => {
        const index = this.#timers.indexOf(timer);
        if (index >= 0) this.#timers.splice(index, 1);
      },
    };
  }

  /** How many timers are pending. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** The due time (epoch ms) of the earliest pending timer, or `undefined` when none is. */
  nextTimerAt(): number | undefined {
    return this.#timers[0]?.dueAt;
  }

  /** Moves time forward by `ms` (>= 0), firing the timers that come due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ${ms} is not a duration >= 0`);
    this.advanceTo(this.#now + ms);
  }

  /**
   * Moves time to `t` (epoch ms, not before now), firing every timer due by then in due order,
   * including timers that the fired ones set within the window.
   */
  advanceTo(t: number): void {
    if (!(t >= this.#now)) throw new RangeError(`ManualClock.advanceTo: ${new Date(t).toISOString()} is before now (${new Date(this.#now).toISOString()})`);
    this.#fireDue(t);
    this.#now = t;
  }

  /**
   * Skips time while nothing is running: whenever `whenIdle()` resolves (the system has nothing
   * runnable but may have timers pending) and still holds a turn later, time jumps to the
   * earliest pending timer and fires it. With no timer pending it waits for one to be set.
   * Work that runs (an activity waiting on the test, say) holds time still. Returns a function
   * that stops skipping; call it before stopping the system whose idleness `whenIdle` reports.
   */
  autoAdvance(whenIdle: () => Promise<void>): () => void {
    let running = true;
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const loop = async (): Promise<void> => {
      while (running) {
        await whenIdle();
        // Let work that the idle moment's own turn started (pumps on setImmediate) show itself.
        await turn();
        if (!running) return;
        const idleStill = await Promise.race([whenIdle().then(() => true), turn().then(() => false)]);
        if (!running) return;
        if (!idleStill) continue;
        const next = this.nextTimerAt();
        if (next === undefined) {
          await new Promise<void>((resolve) => this.#onTimerSet.push(resolve));
        } else if (next > this.#now) {
          this.advanceTo(next);
        }
      }
    };
    void loop();
    return () => {
      running = false;
      for (const notify of this.#onTimerSet.splice(0)) notify();
    };
  }

  #fireDue(until: number): void {
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.dueAt > until) return;
      this.#timers.shift();
      if (next.dueAt > this.#now) this.#now = next.dueAt;
      next.fire();
    }
  }

  #scheduleDueFlush(): void {
    if (this.#dueFlushScheduled) return;
    this.#dueFlushScheduled = true;
    setImmediate(() => {
      this.#dueFlushScheduled = false;
      this.#fireDue(this.#now);
    });
  }
}
