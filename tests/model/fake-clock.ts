import type { GatewayClock } from '../../shared/model/model-gateway.js';

/** A clock tests drive by hand: `sleep` advances time at once and records the wait. */
export interface FakeClock extends GatewayClock {
  advance(ms: number): void;
  readonly sleeps: number[];
  /** Called at the start of every sleep, e.g. to abort a signal mid-wait. */
  onSleep?: (ms: number) => void;
}

export function createFakeClock(startMs = 1_000): FakeClock {
  let now = startMs;
  const clock: FakeClock = {
    sleeps: [],
    nowMs: () => now,
    advance(ms: number) {
      now += ms;
    },
    async sleep(ms: number, signal?: AbortSignal): Promise<void> {
      clock.sleeps.push(ms);
      clock.onSleep?.(ms);
      if (signal?.aborted) throw signal.reason;
      now += ms;
    },
  };
  return clock;
}
