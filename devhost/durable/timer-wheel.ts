import type { Clock, ClockTimer } from '../host/clock.js';

/**
 * Due-time scheduling for durable timers with one clock timer at a time: a min-heap of entries
 * and a single timer of the injected {@link Clock} armed for the earliest. Cancelled entries are
 * dropped lazily.
 */

export interface TimerHandle {
  cancel(): void;
}

interface Entry {
  dueAt: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

export class TimerWheel {
  readonly #heap: Entry[] = [];
  #seq = 0;
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls `fire` at or after `dueAt` (epoch ms); at once (next turn) when already due. */
  schedule(dueAt: number, fire: () => void): TimerHandle {
    const entry: Entry = { dueAt, seq: this.#seq++, fire, cancelled: false };
    this.#push(entry);
    this.#arm();
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Number of live entries (cancelled ones still in the heap count until dropped). */
  get size(): number {
    return this.#heap.length;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#heap.length = 0;
  }

  #arm(): void {
    if (this.#stopped) return;
    while (this.#heap.length > 0 && (this.#heap[0] as Entry).cancelled) this.#pop();
    const next = this.#heap[0];
    if (!next) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#armedFor = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.#timer && this.#armedFor <= next.dueAt) return;
    this.#timer?.cancel();
    this.#armedFor = next.dueAt;
    this.#timer = this.#clock.setTimer(next.dueAt - this.#clock.now(), () => this.#onTimeout());
  }

  #onTimeout(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    const due: Entry[] = [];
    while (this.#heap.length > 0 && (this.#heap[0] as Entry).dueAt <= now) {
      const entry = this.#pop();
      if (!entry.cancelled) due.push(entry);
    }
    for (const entry of due) entry.fire();
    this.#arm();
  }

  #less(a: Entry, b: Entry): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i] as Entry, heap[parent] as Entry)) break;
      [heap[i], heap[parent]] = [heap[parent] as Entry, heap[i] as Entry];
      i = parent;
    }
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0] as Entry;
    const last = heap.pop() as Entry;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && this.#less(heap[l] as Entry, heap[smallest] as Entry)) smallest = l;
        if (r < heap.length && this.#less(heap[r] as Entry, heap[smallest] as Entry)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as Entry, heap[i] as Entry];
        i = smallest;
      }
    }
    return top;
  }
}
