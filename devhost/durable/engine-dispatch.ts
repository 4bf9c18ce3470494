import type { DevhostLogger } from '../host/logger.js';
import type { DurableStore } from './durable-store.js';
import type { ActiveInstance, ActivityWork } from './engine-instances.js';

/**
 * Dispatch and concurrency: the ready queue of instances with messages, the activity queue, the
 * caps (`maxConcurrentOrchestratorFunctions`, `maxConcurrentActivityFunctions`), idle detection
 * and the in-flight invocations a shutdown waits for. What an episode or an activity does is
 * the caller's (`runEpisode`, `runActivity`); this module only decides when they run.
 *
 * - One episode per instance at a time: an instance is queued once (`ready`) and not while its
 *   episode runs (`running`); the episode's end re-queues it if messages arrived meanwhile.
 * - Episodes start on their own turn of the event loop (setImmediate), so results that arrive in
 *   the same turn (a burst of fast activities) reach one episode.
 * - Activity completions refill the activity slots at once (no turn boundary).
 * - Nothing starts while the store cannot commit (fails closed); `resume()` restarts dispatch.
 */

/** A FIFO queue with O(1) shift. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

export interface EngineDispatchOptions {
  store: DurableStore;
  logger: DevhostLogger;
  maxConcurrentOrchestrations: number;
  maxConcurrentActivities: number;
  /** Whether `active` is still live and has messages for an episode. */
  isRunnable(active: ActiveInstance): boolean;
  /** Runs one episode of `active` (consumes its messages, commits its effects). */
  runEpisode(active: ActiveInstance): Promise<void>;
  /** Runs one activity and delivers its result; never rejects. */
  runActivity(work: ActivityWork): Promise<void>;
  /** Whether the entity scheduler has nothing queued or running. */
  entitiesIdle(): boolean;
}

export class EngineDispatch {
  readonly #options: EngineDispatchOptions;
  readonly #ready = new Queue<ActiveInstance>();
  readonly #activities = new Queue<ActivityWork>();
  readonly #idleWaiters: (() => void)[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #runningEpisodes = 0;
  #runningActivities = 0;
  #pumpScheduled = false;
  #stopping = false;

  constructor(options: EngineDispatchOptions) {
    this.#options = options;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Queues `active` for an episode (once; not while its episode runs). */
  markReady(active: ActiveInstance): void {
    if (active.ready || active.running) return;
    active.ready = true;
    this.#ready.push(active);
    this.schedulePump();
  }

  schedulePump(): void {
    if (this.#pumpScheduled || this.#stopping) return;
    this.#pumpScheduled = true;
    setImmediate(() => this.#pump());
  }

  /** Queues an activity and starts it if a slot is free. */
  enqueueActivity(work: ActivityWork): void {
    this.#activities.push(work);
    this.#startActivities();
  }

  /** Restarts dispatch after the store became writable again. */
  resume(): void {
    if (this.#stopping) return;
    this.schedulePump();
    this.#startActivities();
  }

  /** Resolves when nothing is runnable: no queued or running episodes, activities or entity batches (timers may be pending). */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Nothing queued or running (or stopping). */
  get idle(): boolean {
    return (
      this.#stopping ||
      (this.#ready.length === 0 &&
        this.#runningEpisodes === 0 &&
        this.#runningActivities === 0 &&
        this.#activities.length === 0 &&
        !this.#pumpScheduled &&
        this.#options.entitiesIdle())
    );
  }

  /** Answers idle waiters if nothing is runnable any more; call when some work settled. */
  checkIdle(): void {
    if (this.#idleWaiters.length > 0 && this.idle) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  /** Stops starting work; in-flight invocations go on (see {@link EngineDispatch.drain}). */
  stop(): void {
    this.#stopping = true;
  }

  /**
   * Waits up to `graceMs` of real time for in-flight invocations to settle. Real time on
   * purpose: a shutdown must end even on a clock nobody advances.
   */
  async drain(graceMs: number): Promise<void> {
    // eslint-disable-next-line no-restricted-syntax
    const deadline = Date.now() + graceMs;
    // eslint-disable-next-line no-restricted-syntax
    while (this.#inFlight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        // eslint-disable-next-line no-restricted-globals, no-restricted-syntax
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
      clearTimeout(timer);
    }
  }

  /** Answers every idle waiter (shutdown, after the last commit). */
  releaseIdleWaiters(): void {
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Starts episodes for ready instances, up to the cap. */
  #pump(): void {
    this.#pumpScheduled = false;
    const { store, maxConcurrentOrchestrations, isRunnable } = this.#options;
    while (!this.#stopping && store.healthy && this.#runningEpisodes < maxConcurrentOrchestrations) {
      const active = this.#ready.shift();
      if (!active) break;
      active.ready = false;
      if (active.running || !isRunnable(active)) continue;
      active.running = true;
      this.#runningEpisodes++;
      this.#track(
        this.#options
          .runEpisode(active)
          .catch((error: unknown) => {
            this.#options.logger.error(`durable: episode of ${active.record.instanceId} failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
          })
          .finally(() => {
            active.running = false;
            this.#runningEpisodes--;
            if (this.#options.isRunnable(active)) this.markReady(active);
            this.schedulePump();
            this.checkIdle();
          }),
      );
    }
    this.checkIdle();
  }

  /** Starts queued activities up to the cap. Completions refill at once (no turn boundary). */
  #startActivities(): void {
    const { store, maxConcurrentActivities } = this.#options;
    while (!this.#stopping && store.healthy && this.#runningActivities < maxConcurrentActivities) {
      const work = this.#activities.shift();
      if (!work) break;
      this.#runningActivities++;
      this.#track(
        this.#options.runActivity(work).finally(() => {
          this.#runningActivities--;
          this.#startActivities();
          this.checkIdle();
        }),
      );
    }
  }
}
