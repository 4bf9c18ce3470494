import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InvocationOutcome, RegisteredFunction, RpcTypedData } from '../../devhost/host/core-types.js';
import type { HostExtension, HostServices } from '../../devhost/host/extension-types.js';
import { FunctionKeyStore } from '../../devhost/host/function-keys.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { DEFAULT_REQUEST_BODY_LIMIT_BYTES } from '../../devhost/host/request-body.js';
import { openDatabase } from '../../devhost/host/storage.js';
import { createTimerExtension } from '../../devhost/timer/timer-extension.js';

/** The handler's `Timer` as @azure/functions builds it: parse the JSON, camel-case every key. */
function camelCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCase);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), camelCase(v)]));
}

interface TimerArg {
  isPastDue: boolean;
  schedule: { adjustForDST: boolean };
  scheduleStatus: { last: string; next: string; lastUpdated: string } | null;
}

interface Call {
  fn: string;
  at: string;
  timer: TimerArg;
  retryCount?: number;
}

function timerFunction(name: string, options: Record<string, unknown>, retryOptions?: Record<string, unknown>): RegisteredFunction {
  const trigger = { type: 'timerTrigger', direction: 'in' as const, name: 'myTimer', ...options };
  return {
    name,
    metadata: { name, bindings: { timerTrigger1a2b: trigger }, ...(retryOptions ? { retryOptions } : {}) },
    callback: () => undefined,
    triggerBindingName: 'timerTrigger1a2b',
    trigger,
  };
}

/** A fake host: records invocations, runs `behaviour` for each, captures log lines. */
function fakeHost(db: DatabaseSync, functions: RegisteredFunction[]) {
  const calls: Call[] = [];
  const logs: { level: keyof DevhostLogger; message: string }[] = [];
  let behaviour: (call: Call) => Promise<void> | void = () => {};
  let running = 0;
  let maxRunning = 0;
  const logger: DevhostLogger = {
    debug: (message) => logs.push({ level: 'debug', message }),
    info: (message) => logs.push({ level: 'info', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  };
  const services: HostServices = {
    db,
    functions: new Map(functions.map((f) => [f.name, f])),
    hostJson: {},
    baseUrl: () => 'http://127.0.0.1:0',
    logger,
    keys: new FunctionKeyStore(
      undefined,
      functions.map((f) => f.name),
    ),
    maxRequestBodyBytes: DEFAULT_REQUEST_BODY_LIMIT_BYTES,
    async invoke(fn, inputs: Record<string, RpcTypedData | null | undefined>, _meta, options): Promise<InvocationOutcome> {
      const data = inputs[fn.triggerBindingName];
      const call: Call = { fn: fn.name, at: new Date().toISOString(), timer: camelCase(JSON.parse(data?.json ?? 'null')) as TimerArg };
      if (options?.retryContext) call.retryCount = options.retryContext.retryCount;
      calls.push(call);
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        await behaviour(call);
      } finally {
        running--;
      }
      return { invocationId: String(calls.length), returnValue: undefined, outputs: new Map(), durationMs: 0 };
    },
  };
  return {
    services,
    calls,
    logs,
    maxRunning: () => maxRunning,
    onInvoke(fn: (call: Call) => Promise<void> | void) {
      behaviour = fn;
    },
    messages: (level: keyof DevhostLogger) => logs.filter((l) => l.level === level).map((l) => l.message),
  };
}

const storedStatus = (db: DatabaseSync, name: string) => {
  const row = db.prepare('SELECT last, next, last_updated FROM timer_schedule_status WHERE function_name = ?').get(name);
  const iso = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : null);
  return row ? { last: iso(row['last']), next: iso(row['next']), lastUpdated: iso(row['last_updated']) } : undefined;
};

describe('timer extension', () => {
  let db: DatabaseSync;
  let extension: HostExtension | undefined;

  beforeEach(() => {
    vi.useFakeTimers({
      now: new Date('2024-05-01T10:00:30.000Z'),
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    });
    db = openDatabase('memory');
  });
  afterEach(async () => {
    // stop() waits for running invocations, and these wait on fake time.
    const stopping = extension?.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    await stopping;
    extension = undefined;
    vi.useRealTimers();
    db.close();
  });

  it("fires on schedule with the host's TimerInfo and no ScheduleStatus for sub-minute timers", async () => {
    const host = fakeHost(db, [timerFunction('tick', { schedule: '*/1 * * * * *' })]);
    extension = createTimerExtension(host.services);
    await extension.start();
    expect(host.calls).toHaveLength(0);

    await vi.advanceTimersByTimeAsync(1000);
    expect(host.calls).toEqual([{ fn: 'tick', at: '2024-05-01T10:00:31.000Z', timer: { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: null } }]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(host.calls.map((c) => c.at)).toEqual(['2024-05-01T10:00:31.000Z', '2024-05-01T10:00:32.000Z', '2024-05-01T10:00:33.000Z']);
    // The host switches the schedule monitor off for sub-minute schedules: nothing persisted.
    expect(storedStatus(db, 'tick')).toBeUndefined();
  });

  it('reports and persists ScheduleStatus for monitored schedules', async () => {
    const host = fakeHost(db, [timerFunction('everyMinute', { schedule: '0 * * * * *' })]);
    extension = createTimerExtension(host.services);
    await extension.start();
    expect(storedStatus(db, 'everyMinute')).toEqual({
      last: null,
      next: '2024-05-01T10:01:00.000Z',
      lastUpdated: '2024-05-01T10:00:30.000Z',
    });

    await vi.advanceTimersByTimeAsync(30_000);
    expect(host.calls).toHaveLength(1);
    expect(host.calls[0]?.timer).toEqual({
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: '0001-01-01T00:00:00+00:00',
        next: '2024-05-01T10:01:00+00:00',
        lastUpdated: '2024-05-01T10:00:30+00:00',
      },
    });
    expect(storedStatus(db, 'everyMinute')).toEqual({
      last: '2024-05-01T10:01:00.000Z',
      next: '2024-05-01T10:02:00.000Z',
      lastUpdated: '2024-05-01T10:01:00.000Z',
    });

    await vi.advanceTimersByTimeAsync(60_000);
    expect(host.calls[1]?.timer.scheduleStatus).toMatchObject({ last: '2024-05-01T10:01:00+00:00', next: '2024-05-01T10:02:00+00:00' });
  });

  it('runs once at start-up with IsPastDue when the devhost was down past a due occurrence', async () => {
    const fn = timerFunction('everyMinute', { schedule: '0 * * * * *' });
    const first = fakeHost(db, [fn]);
    extension = createTimerExtension(first.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(30_000); // runs at 10:01:00; next due 10:02:00
    await extension.stop();

    // Down from 10:01:00 until 10:05:30: the 10:02 to 10:05 occurrences were missed.
    vi.setSystemTime(new Date('2024-05-01T10:05:30.000Z'));
    const second = fakeHost(db, [fn]);
    extension = createTimerExtension(second.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(second.calls).toEqual([
      {
        fn: 'everyMinute',
        at: '2024-05-01T10:05:30.000Z',
        timer: {
          isPastDue: true,
          schedule: { adjustForDST: true },
          scheduleStatus: {
            last: '2024-05-01T10:01:00+00:00',
            next: '2024-05-01T10:02:00+00:00',
            lastUpdated: '2024-05-01T10:01:00+00:00',
          },
        },
      },
    ]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(second.calls.map((c) => [c.at, c.timer.isPastDue])).toEqual([
      ['2024-05-01T10:05:30.000Z', true],
      ['2024-05-01T10:06:00.000Z', false],
    ]);
  });

  it('does not treat a changed schedule as past due after a restart', async () => {
    const first = fakeHost(db, [timerFunction('report', { schedule: '0 0 * * * *' })]);
    extension = createTimerExtension(first.services);
    await extension.start(); // next 11:00
    await extension.stop();
    vi.setSystemTime(new Date('2024-05-01T10:20:00.000Z'));
    const second = fakeHost(db, [timerFunction('report', { schedule: '0 */15 * * * *' })]);
    extension = createTimerExtension(second.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(second.calls).toHaveLength(0);
    expect(storedStatus(db, 'report')?.next).toBe('2024-05-01T10:30:00.000Z');
  });

  it('runs once at start-up with runOnStartup, then keeps the schedule', async () => {
    const host = fakeHost(db, [timerFunction('warmup', { schedule: '0 * * * * *', runOnStartup: true })]);
    extension = createTimerExtension(host.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(host.calls.map((c) => [c.at, c.timer.isPastDue])).toEqual([['2024-05-01T10:00:30.000Z', false]]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(host.calls.map((c) => c.at)).toEqual(['2024-05-01T10:00:30.000Z', '2024-05-01T10:01:00.000Z']);
  });

  it('logs a failing invocation and keeps the schedule', async () => {
    const host = fakeHost(db, [timerFunction('flaky', { schedule: '*/1 * * * * *' })]);
    host.onInvoke(() => {
      throw new Error('database unavailable');
    });
    extension = createTimerExtension(host.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(host.calls).toHaveLength(3);
    expect(host.messages('error')).toEqual(Array.from({ length: 3 }, () => "Timer 'flaky': invocation failed (database unavailable); the schedule continues."));
  });

  it('never overlaps a timer with itself and logs the occurrences it skips', async () => {
    const host = fakeHost(db, [timerFunction('slow', { schedule: '*/1 * * * * *' })]);
    host.onInvoke(() => new Promise((resolve) => setTimeout(resolve, 2500)));
    extension = createTimerExtension(host.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(7000);
    expect(host.maxRunning()).toBe(1);
    // 10:00:31 runs until 10:00:33.5; 32 and 33 are skipped; 34 runs until 36.5; ...
    expect(host.calls.map((c) => c.at)).toEqual(['2024-05-01T10:00:31.000Z', '2024-05-01T10:00:34.000Z', '2024-05-01T10:00:37.000Z']);
    expect(host.messages('warn')[0]).toMatch(/^Timer 'slow': skipped 2 occurrence\(s\), the last due 2024-05-01T10:00:33\.000Z/);
  });

  it('reports IsPastDue when a scheduled run starts late', async () => {
    const host = fakeHost(db, [timerFunction('everyMinute', { schedule: '0 * * * * *' })]);
    extension = createTimerExtension(host.services);
    await extension.start();
    // The wall clock jumps (a laptop waking up) while the timer still waits on its own clock.
    vi.setSystemTime(new Date('2024-05-01T10:09:30.000Z'));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(host.calls.map((c) => [c.at, c.timer.isPastDue])).toEqual([['2024-05-01T10:10:00.000Z', true]]);
    expect(host.messages('warn')).toContainEqual(expect.stringMatching(/fired 540000 ms late/));
  });

  it('invokes from the admin API with the stored status, without moving the schedule', async () => {
    const fn = timerFunction('everyMinute', { schedule: '0 * * * * *' });
    const host = fakeHost(db, [fn]);
    let release = () => {};
    host.onInvoke(() => new Promise<void>((resolve) => (release = resolve)));
    extension = createTimerExtension(host.services);
    await extension.start();
    await extension.invokeFromAdmin?.(fn, undefined);
    await extension.invokeFromAdmin?.(fn, undefined);
    await vi.advanceTimersByTimeAsync(0);
    // One at a time: the second admin run waits for the first.
    expect(host.calls).toHaveLength(1);
    expect(host.calls[0]?.timer).toMatchObject({ isPastDue: false, scheduleStatus: { next: '2024-05-01T10:01:00+00:00' } });
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(host.calls).toHaveLength(2);
    expect(storedStatus(db, 'everyMinute')?.next).toBe('2024-05-01T10:01:00.000Z');
    host.onInvoke(() => {});
    release();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(host.calls.map((c) => c.at)).toEqual(['2024-05-01T10:00:30.000Z', '2024-05-01T10:00:30.000Z', '2024-05-01T10:01:00.000Z']);
  });

  it('stop() waits for the running invocation and starts no new ones', async () => {
    const fn = timerFunction('tick', { schedule: '*/1 * * * * *' });
    const host = fakeHost(db, [fn]);
    let finished = false;
    host.onInvoke(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      finished = true;
    });
    extension = createTimerExtension(host.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(host.calls).toHaveLength(1);
    await extension.invokeFromAdmin?.(fn, undefined); // queued behind the running one
    const stopped = extension.stop();
    await vi.advanceTimersByTimeAsync(500);
    await stopped;
    expect(finished).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(host.calls).toHaveLength(1);
    await expect(extension.invokeFromAdmin?.(fn, undefined)).rejects.toThrow(/not running/);
    extension = undefined;
  });

  it('refuses to start with bad schedules, naming every bad function', async () => {
    const host = fakeHost(db, [
      timerFunction('good', { schedule: '0 * * * * *' }),
      timerFunction('sevenIsNotSunday', { schedule: '0 0 0 * * 7' }),
      timerFunction('fromSetting', { schedule: '%MISSING_SCHEDULE%' }),
    ]);
    extension = createTimerExtension(host.services, { appSetting: () => undefined });
    const started = extension.start();
    await expect(started).rejects.toThrow(/function 'sevenIsNotSunday': Invalid timer schedule '0 0 0 \* \* 7': day-of-week field/);
    await expect(started).rejects.toThrow(/function 'fromSetting': the schedule names app setting 'MISSING_SCHEDULE'/);
  });

  it('resolves %setting% schedules and honours the injected clock', async () => {
    const host = fakeHost(db, [timerFunction('nightly', { schedule: '%NIGHTLY%' })]);
    extension = createTimerExtension(host.services, {
      appSetting: (name) => (name === 'NIGHTLY' ? '0 0 2 * * *' : undefined),
      now: () => new Date(Date.now()),
    });
    await extension.start();
    expect(storedStatus(db, 'nightly')?.next).toBe('2024-05-02T02:00:00.000Z');
    expect(host.messages('info')[0]).toContain("cron '0 0 2 * * *' (UTC)");
  });

  it('applies an exponential-backoff retry policy: delays grow from the minimum to the maximum, then the occurrence ends', async () => {
    const policy = { retryStrategy: 'exponentialBackoff', maxRetryCount: 4, minimumInterval: { seconds: 2 }, maximumInterval: { seconds: 9 } };
    const host = fakeHost(db, [timerFunction('flaky', { schedule: '0 0 0 1 1 *', runOnStartup: true, useMonitor: false }, policy)]);
    host.onInvoke(() => {
      throw new Error('down');
    });
    extension = createTimerExtension(host.services);
    await extension.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(host.calls.map((c) => c.retryCount)).toEqual([0, 1, 2, 3, 4]);
    const gaps = host.calls.slice(1).map((c, i) => Date.parse(c.at) - Date.parse(host.calls[i]?.at ?? ''));
    // minimum + 2^(n-1) x minimum x [0.8, 1.2], capped at the maximum (WebJobs' randomized backoff).
    expect(gaps[0]).toBeGreaterThanOrEqual(2000 + 1600);
    expect(gaps[0]).toBeLessThanOrEqual(2000 + 2400);
    expect(gaps[1]).toBeGreaterThanOrEqual(2000 + 3200);
    expect(gaps[2]).toBeGreaterThanOrEqual(2000 + 6400);
    expect(gaps[2]).toBeLessThanOrEqual(9000);
    expect(gaps[3]).toBe(9000);
    expect(host.messages('error')).toContain("Function 'flaky': all 4 retries failed.");
  });

  it('stops waiting for a retry when the host stops, and makes no further attempt', async () => {
    const policy = { retryStrategy: 'fixedDelay', maxRetryCount: -1, delayInterval: { seconds: 3600 } };
    const host = fakeHost(db, [timerFunction('forever', { schedule: '0 0 0 1 1 *', runOnStartup: true, useMonitor: false }, policy)]);
    host.onInvoke(() => {
      throw new Error('down');
    });
    const ext = createTimerExtension(host.services);
    await ext.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(host.calls.map((c) => c.retryCount)).toEqual([0]);
    // Without the abort, stop() would wait out the hour (fake time never gets there here).
    await ext.stop();
    expect(host.calls).toHaveLength(1);
    expect(host.messages('warn')).toContain("Function 'forever': the host is stopping; no more retries.");
  });

  it('refuses to start a timer whose retry policy is malformed, naming it', async () => {
    const host = fakeHost(db, [timerFunction('bad', { schedule: '0 * * * * *' }, { retryStrategy: 'sometimes', maxRetryCount: 2 })]);
    const ext = createTimerExtension(host.services);
    await expect(ext.start()).rejects.toThrow(/function 'bad': retry.strategy must be 'fixedDelay' or 'exponentialBackoff'/);
  });
});
