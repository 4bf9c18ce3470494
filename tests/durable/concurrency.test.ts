import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invoker } from '../../devhost/host/core-types.js';
import { outputOf, startDurableHarness, type DurableHarness } from './durable-test-kit.js';

/** Observes invocations: concurrency per trigger type and per orchestration instance. */
const seen = {
  running: new Map<string, number>(),
  max: new Map<string, number>(),
  perInstance: new Map<string, number>(),
  maxPerInstance: 0,
};

function instrument(invoke: Invoker): Invoker {
  return async (fn, inputs, metadata) => {
    const type = fn.trigger.type;
    let instanceId: string | undefined;
    if (type === 'orchestrationTrigger') {
      const data = inputs[fn.triggerBindingName];
      instanceId = (JSON.parse(data?.string ?? '{}') as { instanceId?: string }).instanceId;
    }
    const running = (seen.running.get(type) ?? 0) + 1;
    seen.running.set(type, running);
    seen.max.set(type, Math.max(seen.max.get(type) ?? 0, running));
    if (instanceId) {
      const n = (seen.perInstance.get(instanceId) ?? 0) + 1;
      seen.perInstance.set(instanceId, n);
      seen.maxPerInstance = Math.max(seen.maxPerInstance, n);
    }
    try {
      // Give other work the chance to overlap, so a missing cap or lock would show.
      if (type === 'orchestrationTrigger') await sleep(1);
      return await invoke(fn, inputs, metadata);
    } finally {
      seen.running.set(type, (seen.running.get(type) ?? 1) - 1);
      if (instanceId) seen.perInstance.set(instanceId, (seen.perInstance.get(instanceId) ?? 1) - 1);
    }
  };
}

let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness({ wrap: (services) => ({ ...services, invoke: instrument(services.invoke) }) });
});
afterAll(async () => {
  await h?.stop();
});

describe('concurrency (host.json caps: 8 activities, 4 orchestrator episodes)', () => {
  it('caps concurrent activities and still runs them in parallel', async () => {
    seen.max.set('activityTrigger', 0);
    const record = await h.finished(await h.start('fanOut', { count: 60 }));
    expect(outputOf(record)).toBe((60 * 61 * 121) / 6);
    expect(seen.max.get('activityTrigger')).toBe(8);
  });

  it('runs many instances at once, caps episodes and never overlaps episodes of one instance', async () => {
    seen.max.set('orchestrationTrigger', 0);
    seen.maxPerInstance = 0;
    const ids = await Promise.all(Array.from({ length: 30 }, () => h.start('fanOut', { count: 5 })));
    // Raise events at an instance while its episodes run: they must queue, not overlap.
    const waiter = await h.start('eventCollector', { max: 5 });
    for (let i = 0; i < 5; i++) await h.raise(waiter, 'tick', i);
    const records = await Promise.all([...ids, waiter].map((id) => h.finished(id)));
    expect(records.every((r) => r.status === 'Completed')).toBe(true);
    expect(outputOf(records[records.length - 1] as (typeof records)[number])).toEqual([0, 1, 2, 3, 4]);
    expect(seen.max.get('orchestrationTrigger')).toBe(4);
    expect(seen.maxPerInstance).toBe(1);
  });
});
