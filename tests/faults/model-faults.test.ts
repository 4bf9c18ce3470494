import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectConsistentRun, faultAgent, faultRuns, isDone, outboxOf, startFaultStack, type FaultStack, type Host } from './fault-kit.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Model faults against runs in flight on the devhost: an outage (500s, then 429 with
 * Retry-After) that no run may fail on, and a hung model that must not hold up other runs'
 * approvals. The outage lasts `FAULT_OUTAGE_MS` (default 6 s; e.g. 300000 for five minutes):
 * waits in the runs are durable timers, so a longer outage costs wall time, not correctness.
 */

const OUTAGE_MS = Number(process.env['FAULT_OUTAGE_MS'] ?? 6_000);

let stack: FaultStack;
let host: Host;
beforeAll(async () => {
  // A short circuit cool-down so the shrunk outage still opens and half-opens circuits.
  stack = await startFaultStack({ MODEL_CIRCUIT_COOLDOWN_MS: '1000', MODEL_MAX_CONCURRENT_CALLS: '4' });
  host = await stack.startHost();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

const phaseOf = (s: { customStatus: unknown } | undefined): string | undefined => (s?.customStatus as { phase?: string } | null)?.phase;

describe('model faults', () => {
  it(
    `rides through a model outage (500s, then 429 with Retry-After; ${OUTAGE_MS} ms) with no run failed`,
    async () => {
      const inputs = faultRuns(20, faultAgent({ deployment: 'outage' }), 'model');
      const ids = inputs.map((i) => i.runId);
      stack.model.setFaults([{ status: 500, deployment: 'outage' }]);
      for (const input of inputs) await host.api.start(input);
      // Every run has met the outage and is waiting on a durable timer.
      await host.api.waitAll(ids, (s) => phaseOf(s) === 'waiting_for_model', 60_000);
      await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
      stack.model.setFaults([{ status: 429, retryAfterMs: 1_000, deployment: 'outage' }]);
      const throttledFrom = stack.model.requests().length;
      await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
      const during = stack.model.requests();
      stack.model.setFaults([]);

      const done = await host.api.waitAll(ids, isDone, 120_000);
      const failed = [...done].filter(([, s]) => s.runtimeStatus !== 'Completed');
      expect(failed.map(([id, s]) => `${id}: ${JSON.stringify(s.output)}`)).toEqual([]);
      for (const id of ids) await expectConsistentRun(stack.container, 'contoso', id);
      // The outage was real: the model refused calls of both kinds (the circuit breaker keeps most
      // calls from reaching it at all, which is its job).
      expect(during.filter((r) => r.status === 500).length).toBeGreaterThanOrEqual(3);
      expect(during.slice(throttledFrom).some((r) => r.status === 429)).toBe(true);
    },
    300_000 + OUTAGE_MS * 2,
  );

  it('keeps applying other runs’ approvals while model calls hang', async () => {
    stack.model.reset();
    // Two runs reach their approval wait first.
    const approvals = faultRuns(2, faultAgent({ deployment: 'fast', approval: 'required' }), 'model');
    for (const input of approvals) await host.api.start(input);
    const waiting = await host.api.waitAll(
      approvals.map((i) => i.runId),
      (s) => phaseOf(s) === 'awaiting_approval',
    );

    // Then the model hangs for a dozen other runs: more than the host's 8 activity slots.
    stack.model.setFaults([{ deployment: 'hung', latencyMs: 600_000 }]);
    const hung = faultRuns(12, faultAgent({ deployment: 'hung', modelTimeoutMs: 8_000 }), 'model');
    for (const input of hung) await host.api.start(input);
    await eventually('four hung model calls in flight', () => stack.model.stats().inFlight >= 4, { timeoutMs: 30_000, intervalMs: 20 }).catch(() => undefined);
    const hungInFlight = stack.model.stats().inFlight;
    expect(hungInFlight).toBeGreaterThanOrEqual(4);

    const raisedAt = Date.now();
    for (const input of approvals) {
      const pending = (waiting.get(input.runId)?.customStatus as { awaitingApproval: { toolCallId: string }[] }).awaitingApproval;
      await host.api.raise(input.runId, 'approval', { toolCallId: pending[0]?.toolCallId, approved: true, decidedBy: 'faults' });
    }
    // The approved tool runs (its reply is in the outbox) while every hung call is still hanging.
    for (const input of approvals) {
      while ((await outboxOf(stack.container, 'contoso', input.runId)).length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const appliedMs = Date.now() - raisedAt;
    expect(stack.model.stats().inFlight).toBe(hungInFlight);
    console.log(`approvals applied ${appliedMs} ms after the decision, with ${hungInFlight} model calls hung`);

    stack.model.setFaults([]);
    const done = await host.api.waitAll(
      [...approvals, ...hung].map((i) => i.runId),
      isDone,
      120_000,
    );
    expect([...done.values()].filter((s) => s.runtimeStatus !== 'Completed')).toEqual([]);
    // Capacity held: never more model calls at once than the instance cap.
    expect(stack.model.stats().maxInFlight).toBeLessThanOrEqual(4);
  }, 180_000);
});
