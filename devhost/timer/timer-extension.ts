import type { RegisteredFunction } from '../host/core-types.js';
import type { HostExtension, HostServices } from '../host/extension-types.js';
import { parseSchedule, type Schedule } from './ncrontab.js';
import { isStorageFault, storageHealth } from '../host/storage.js';
import { invokeWithRetryPolicy, readRetryPolicy, type RetryPolicy } from '../host/retry-policy.js';

/**
 * Timer triggers for the devhost, following the Functions timer extension (TimerListener and
 * ScheduleMonitor in azure-webjobs-sdk-extensions):
 *
 * - The trigger input is the host's TimerInfo as PascalCase JSON — `{Schedule: {AdjustForDST},
 *   ScheduleStatus: {Last, Next, LastUpdated} | null, IsPastDue}` — which `@azure/functions`
 *   camel-cases into the handler's `Timer`. Dates are written as the host writes them on a UTC
 *   machine (`2024-05-01T10:00:00+00:00`; `0001-01-01T00:00:00+00:00` for "never").
 * - With the schedule monitor on (`useMonitor`, default true, forced off for schedules firing more
 *   than once a minute) the status is persisted; a devhost that was down past `Next` runs the
 *   timer once at start-up with IsPastDue = true, as the host does. `ScheduleStatus` is null when
 *   the monitor is off.
 * - `runOnStartup` runs once at start (IsPastDue false) unless a past-due run already does.
 * - The next timer is armed after the current invocation settles, so a timer never overlaps
 *   itself. Occurrences that came due meanwhile are skipped and logged (the host would instead run
 *   one catch-up invocation at once). Admin invocations wait their turn; a scheduled occurrence
 *   that finds one running or queued is skipped and logged.
 * - Devhost addition: a scheduled invocation that starts more than `pastDueToleranceInMs` after
 *   its due time (event loop blocked, laptop asleep) is reported with IsPastDue = true.
 * - Times are UTC; WEBSITE_TIME_ZONE is not applied.
 * - A function's retry policy (`retry` in its options) is applied as the host applies it
 *   (host/retry-policy.ts): a failed invocation is retried with `context.retryContext`, and the
 *   occurrence (with its retries) finishes before the next is armed.
 */

export interface TimerExtensionOptions {
  /** The clock; defaults to the system clock. Must agree with the timers (use vitest fake timers). */
  now?: () => Date;
  /** Lateness (ms) after which a scheduled invocation reports IsPastDue. Default 2000. */
  pastDueToleranceInMs?: number;
  /** Resolves `%name%` schedules from app settings. Defaults to `process.env`. */
  appSetting?: (name: string) => string | undefined;
}

/** Node's setTimeout holds at most 2^31-1 ms; longer waits are re-armed in chunks (the host uses 24 days). */
const MAX_TIMER_DELAY_MS = 24 * 24 * 60 * 60 * 1000;
const DEFAULT_PAST_DUE_TOLERANCE_MS = 2000;
const NEXT_OCCURRENCES_LOGGED = 5;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS timer_schedule_status (
  function_name TEXT PRIMARY KEY,
  last INTEGER,
  next INTEGER NOT NULL,
  last_updated INTEGER
)`;

/** The host's ScheduleStatus; times are epoch ms, `null` is .NET's default DateTime ("never"). */
interface ScheduleStatus {
  last: number | null;
  next: number;
  lastUpdated: number | null;
}

type FireKind = 'scheduled' | 'pastDue' | 'startup';

interface TimerState {
  fn: RegisteredFunction;
  schedule: Schedule;
  useMonitor: boolean;
  runOnStartup: boolean;
  retry: RetryPolicy | undefined;
  status: ScheduleStatus;
  handle: NodeJS.Timeout | undefined;
  /** Invocations queued or running; scheduled occurrences are skipped while this is > 0. */
  pending: number;
  /** Settles when the last queued invocation has. */
  tail: Promise<void>;
}

/**
 * Creates the timer extension. `start()` validates every timer function's schedule (throwing one
 * error that lists each bad function) and arms the timers; `stop()` disarms them and waits for
 * running invocations. Timers are `unref()`ed: they never keep the process alive on their own.
 */
export function createTimerExtension(services: HostServices, options: TimerExtensionOptions = {}): HostExtension {
  const clock = options.now ?? (() => new Date());
  const now = (): number => clock().getTime();
  const tolerance = options.pastDueToleranceInMs ?? DEFAULT_PAST_DUE_TOLERANCE_MS;
  const appSetting = options.appSetting ?? ((name: string) => process.env[name]);
  const { logger } = services;
  const timers = new Map<string, TimerState>();
  let started = false;
  let stopping = false;
  /** Aborted by stop(): retry waits end at once. */
  let stopSignal = new AbortController();

  // Fail closed: no timer function is started while the database cannot be written.
  const health = storageHealth(services.db, logger);

  /** Stores the schedule status; a store that cannot be written is reported, the schedule goes on in memory. */
  const persist = (state: TimerState): void => {
    if (!state.useMonitor) return;
    try {
      services.db
        .prepare(
          `INSERT INTO timer_schedule_status (function_name, last, next, last_updated) VALUES (?, ?, ?, ?)
           ON CONFLICT (function_name) DO UPDATE SET last = excluded.last, next = excluded.next, last_updated = excluded.last_updated`,
        )
        .run(state.fn.name, state.status.last, state.status.next, state.status.lastUpdated);
    } catch (error) {
      if (!isStorageFault(error)) throw error;
      health.fail(error);
      logger.warn(`Timer '${state.fn.name}': its schedule status was not stored (${errorMessage(error)}).`);
    }
  };

  const load = (name: string): ScheduleStatus | undefined => {
    const row = services.db.prepare('SELECT last, next, last_updated FROM timer_schedule_status WHERE function_name = ?').get(name);
    if (!row) return undefined;
    const ms = (v: unknown): number | null => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null);
    const next = ms(row['next']);
    return next === null ? undefined : { last: ms(row['last']), next, lastUpdated: ms(row['last_updated']) };
  };

  /**
   * ScheduleMonitor.CheckPastDueAsync: decides whether an occurrence was missed while the host was
   * down, and re-bases `Next` when the schedule changed since the status was written (so editing a
   * schedule does not look like a missed run).
   */
  const checkPastDue = (state: TimerState, at: number): number => {
    const recorded = load(state.fn.name);
    const nextAfter = (t: number): number => state.schedule.next(new Date(t)).getTime();
    if (!recorded) {
      state.status = { last: null, next: nextAfter(at), lastUpdated: at };
      persist(state);
    } else {
      const base = recorded.last ?? recorded.lastUpdated ?? at;
      let expected = nextAfter(base);
      let lastUpdated = base;
      state.status = recorded;
      if (recorded.next !== expected) {
        if (at > expected) {
          expected = nextAfter(at);
          lastUpdated = at;
        }
        state.status = { last: null, next: expected, lastUpdated };
        persist(state);
      }
    }
    return at > state.status.next ? at - state.status.next : 0;
  };

  const timerInfoJson = (state: TimerState, isPastDue: boolean): string =>
    JSON.stringify({
      Schedule: { AdjustForDST: state.schedule.adjustForDst },
      ScheduleStatus: state.useMonitor
        ? {
            Last: formatHostLocalTime(state.status.last),
            Next: formatHostLocalTime(state.status.next),
            LastUpdated: formatHostLocalTime(state.status.lastUpdated),
          }
        : null,
      IsPastDue: isPastDue,
    });

  const invoke = async (state: TimerState, isPastDue: boolean): Promise<void> => {
    const { fn } = state;
    try {
      const inputs = () => ({ [fn.triggerBindingName]: { json: timerInfoJson(state, isPastDue) } });
      if (state.retry) await invokeWithRetryPolicy(services.invoke, fn, state.retry, inputs, { logger, signal: stopSignal.signal });
      else await services.invoke(fn, inputs());
    } catch (error) {
      // The invoker already logged the stack; this line says what happens to the schedule.
      logger.error(`Timer '${fn.name}': invocation failed (${errorMessage(error)}); the schedule continues.`);
    }
  };

  /** Runs `work` after the timer's previous invocation settles, unless the extension is stopping by then. */
  const enqueue = (state: TimerState, work: () => Promise<void>): void => {
    state.pending++;
    state.tail = state.tail.then(async () => {
      try {
        if (!stopping) await work();
      } catch (error) {
        logger.error(`Timer '${state.fn.name}': ${errorMessage(error)}`);
      } finally {
        state.pending--;
      }
    });
  };

  /** Moves `Next` past `at`, logging occurrences skipped on the way. */
  const skipPast = (state: TimerState, at: number, why: string): void => {
    let skipped = 0;
    let lastSkipped = 0;
    while (state.status.next <= at) {
      skipped++;
      lastSkipped = state.status.next;
      // Recording the skipped occurrence as Last keeps Next = schedule.next(Last), which the
      // past-due check relies on after a restart.
      state.status = { last: lastSkipped, next: state.schedule.next(new Date(lastSkipped)).getTime(), lastUpdated: lastSkipped };
    }
    if (skipped > 0) {
      logger.warn(
        `Timer '${state.fn.name}': skipped ${skipped} occurrence(s), the last due ${new Date(lastSkipped).toISOString()}, ` +
          `because ${why}; next at ${new Date(state.status.next).toISOString()}.`,
      );
    }
  };

  const arm = (state: TimerState, dueAt: number, kind: FireKind): void => {
    if (stopping) return;
    const delay = Math.max(0, dueAt - now());
    const chunk = Math.min(delay, MAX_TIMER_DELAY_MS);
    state.handle = setTimeout(() => {
      state.handle = undefined;
      if (stopping) return;
      if (chunk < delay) arm(state, dueAt, kind);
      else fire(state, kind);
    }, chunk);
    state.handle.unref();
  };

  const fire = (state: TimerState, kind: FireKind): void => {
    if (!health.healthy) {
      // Runs once the store is writable again (occurrences due meanwhile collapse into one).
      void health.whenHealthy().then(() => {
        if (started && !stopping && timers.get(state.fn.name) === state) fire(state, kind);
      });
      return;
    }
    if (kind === 'scheduled' && state.pending > 0) {
      skipPast(state, Math.max(now(), state.status.next), 'an invocation was still running or queued');
      persist(state);
      arm(state, state.status.next, 'scheduled');
      return;
    }
    enqueue(state, async () => {
      const invokedAt = now();
      const isPastDue = kind === 'pastDue' || (kind === 'scheduled' && invokedAt - state.status.next > tolerance);
      if (kind === 'pastDue') logger.info(`Timer '${state.fn.name}' is past due; running it now.`);
      if (kind === 'scheduled' && isPastDue) {
        logger.warn(`Timer '${state.fn.name}' fired ${invokedAt - state.status.next} ms late; reporting IsPastDue.`);
      }
      await invoke(state, isPastDue);
      // As the host: a timer that fired a hair early counts from its due time, so the same
      // occurrence is not scheduled twice.
      const base = kind === 'scheduled' && state.status.next > invokedAt ? state.status.next : invokedAt;
      state.status = { last: base, next: state.schedule.next(new Date(base)).getTime(), lastUpdated: base };
      skipPast(state, now(), 'they came due while the previous invocation was running');
      persist(state);
      arm(state, state.status.next, 'scheduled');
    });
  };

  const readTimer = (fn: RegisteredFunction): TimerState | string => {
    const { schedule: rawSchedule, runOnStartup, useMonitor } = fn.trigger;
    if (typeof rawSchedule !== 'string') return `function '${fn.name}': the timer trigger needs a 'schedule' string`;
    if (runOnStartup !== undefined && typeof runOnStartup !== 'boolean') return `function '${fn.name}': 'runOnStartup' must be a boolean`;
    if (useMonitor !== undefined && typeof useMonitor !== 'boolean') return `function '${fn.name}': 'useMonitor' must be a boolean`;
    const setting = /^%([^%]+)%$/.exec(rawSchedule.trim());
    let expression = rawSchedule;
    if (setting?.[1] !== undefined) {
      const value = appSetting(setting[1]);
      if (value === undefined) return `function '${fn.name}': the schedule names app setting '${setting[1]}', which is not set`;
      expression = value;
    }
    let schedule: Schedule;
    try {
      schedule = parseSchedule(expression);
    } catch (error) {
      return `function '${fn.name}': ${errorMessage(error)}`;
    }
    const retry = readRetryPolicy(fn.metadata);
    if (typeof retry === 'string') return `function '${fn.name}': ${retry}`;
    return {
      fn,
      schedule,
      // The host turns the monitor off for schedules that fire more than once a minute.
      useMonitor: (useMonitor ?? true) && !schedule.firesMoreThanOncePerMinute(),
      runOnStartup: runOnStartup ?? false,
      retry,
      status: { last: null, next: 0, lastUpdated: null },
      handle: undefined,
      pending: 0,
      tail: Promise.resolve(),
    };
  };

  return {
    triggerTypes: ['timerTrigger'],

    async start(): Promise<void> {
      if (started) throw new Error('The timer extension is already started.');
      const problems: string[] = [];
      for (const fn of services.functions.values()) {
        if (fn.trigger.type !== 'timerTrigger') continue;
        const state = readTimer(fn);
        if (typeof state === 'string') problems.push(state);
        else timers.set(fn.name, state);
      }
      if (problems.length > 0) {
        timers.clear();
        throw new Error(`Timer triggers cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      }
      started = true;
      stopping = false;
      stopSignal = new AbortController();
      if (timers.size > 0) services.db.exec(SCHEMA);
      for (const state of timers.values()) {
        const at = now();
        const pastDueMs = state.useMonitor ? checkPastDue(state, at) : 0;
        if (!state.useMonitor) state.status = { last: null, next: state.schedule.next(new Date(at)).getTime(), lastUpdated: null };
        logger.info(
          `Timer '${state.fn.name}': ${state.schedule.describe()}; next ${NEXT_OCCURRENCES_LOGGED}: ` + nextOccurrences(state.schedule, at, NEXT_OCCURRENCES_LOGGED).join(', '),
        );
        // Like the host, start-up runs go through a timer so start() never waits for a function.
        if (pastDueMs > 0) arm(state, at, 'pastDue');
        else if (state.runOnStartup) arm(state, at, 'startup');
        else arm(state, state.status.next, 'scheduled');
      }
    },

    async invokeFromAdmin(fn: RegisteredFunction): Promise<void> {
      const state = timers.get(fn.name);
      if (!state || !started || stopping) throw new Error(`Timer '${fn.name}' is not running in this devhost.`);
      // The host builds TimerInfo from the stored status and never updates it for manual runs.
      enqueue(state, () => invoke(state, false));
    },

    async stop(): Promise<void> {
      stopping = true;
      stopSignal.abort();
      for (const state of timers.values()) {
        if (state.handle) clearTimeout(state.handle);
        state.handle = undefined;
      }
      await Promise.all([...timers.values()].map((s) => s.tail));
      timers.clear();
      started = false;
    },
  };
}

function nextOccurrences(schedule: Schedule, from: number, count: number): string[] {
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < count; i++) {
    t = schedule.next(t);
    out.push(t.toISOString());
  }
  return out;
}

/**
 * A UTC instant as Json.NET writes a local-kind DateTime on a UTC host:
 * `yyyy-MM-ddTHH:mm:ss[.fff]+00:00`, fraction without trailing zeros; `null` is `DateTime.MinValue`.
 */
function formatHostLocalTime(ms: number | null): string {
  if (ms === null) return '0001-01-01T00:00:00+00:00';
  const iso = new Date(ms).toISOString(); // 2024-05-01T10:00:00.120Z
  const [whole = iso, fraction = ''] = iso.slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${whole}${trimmed ? `.${trimmed}` : ''}+00:00`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
