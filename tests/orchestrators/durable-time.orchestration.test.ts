import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Activities, Orchestrators } from '../../shared/agent-runtime/activity-catalog.js';
import { LimitsSchema } from '../../shared/agents/agent-definition.js';
import type { AgentRunOutput } from '../../shared/agent-runtime/run-types.js';
import { EventType, type HistoryEvent } from '../../devhost/durable/history.js';
import { ManualClock } from '../../devhost/host/clock.js';
import { outputOf, runInputFor, startOrchestratorHarness, testAgent, type OrchestratorHarness } from '../helpers/orchestrator-harness.js';

/**
 * `agentRun` with its real, long limits (a 24-hour approval window, a 10-minute model outage
 * tolerance) on a ManualClock: durable time moves only when the test advances it, or skips to
 * the next timer while the engine is idle. Each test would wait for hours in real time if the
 * engine read the wall clock, and fail on the harness's 10-second wait instead.
 */

const HOUR_MS = 3_600_000;
const defaults = LimitsSchema.parse({});

const clock = new ManualClock();
let h: OrchestratorHarness;
beforeAll(async () => {
  h = await startOrchestratorHarness({ clock });
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(() => {
  h.fakes.reset();
});

const timersOf = (history: HistoryEvent[]): HistoryEvent[] => history.filter((e) => e.EventType === EventType.TimerCreated);

describe('agentRun on a manual clock', () => {
  it('waits out the default 24-hour approval window only when the clock passes it, then reports approval_timeout', async () => {
    expect(defaults.approvalTimeoutMs).toBe(24 * HOUR_MS);
    // testAgent's fast limits leave approvalTimeoutMs at its default.
    const agent = testAgent('payer', { tools: [{ tool: 'pay', approval: 'required' }] });
    expect(agent.definition.limits.approvalTimeoutMs).toBe(24 * HOUR_MS);
    const input = runInputFor(agent, 'Pay the invoice');
    h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }, { answer: 'Nobody decided.' }]);
    const startedAt = clock.now();
    const id = h.start(Orchestrators.agentRun, input, input.runId);

    await h.until(id, (history) => timersOf(history).length === 1, 'the approval wait');
    await h.engine.whenIdle();
    const [timer] = timersOf(h.history(id));
    // The deadline is durable time: the clock's start plus the window, not the wall clock's.
    expect(Date.parse(timer?.FireAt ?? '')).toBe(startedAt + 24 * HOUR_MS);
    expect(clock.nextTimerAt()).toBe(startedAt + 24 * HOUR_MS);

    // A second short of the deadline nothing fires.
    clock.advance(24 * HOUR_MS - 1000);
    await h.engine.whenIdle();
    expect(h.engine.getInstance(id)?.status).toBe('Running');
    expect(h.progress(id)).toMatchObject({ phase: 'awaiting_approval' });
    expect(h.fakes.eventTypes(id)).toEqual(['approval.requested']);

    clock.advance(1000);
    const record = await h.finished(id);
    expect(record.status).toBe('Completed');
    expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'completed', answer: 'Nobody decided.' });
    expect(h.fakes.eventTypes(id)).toEqual(['approval.requested', 'approval.timed_out', 'run.completed']);
    expect(h.fakes.inputsOf(Activities.runTool, id)).toEqual([]);
    expect(h.progress(id)?.approvals).toEqual([{ toolCallId: 'call-1-0', tool: 'pay', outcome: 'timed_out' }]);
    const fired = h.history(id).find((e) => e.EventType === EventType.TimerFired);
    expect(Date.parse(fired?.Timestamp ?? '')).toBe(startedAt + 24 * HOUR_MS);
  });

  it('rides a model outage on durable timers and fails with model_unavailable after the default 10-minute tolerance', async () => {
    expect(defaults.modelOutageToleranceMs).toBe(10 * 60_000);
    const agent = testAgent('patient', { limits: { modelOutageToleranceMs: defaults.modelOutageToleranceMs } });
    const input = runInputFor(agent, 'Answer eventually');
    // The gateway advises a minute each time; the outage outlasts the tolerance.
    h.fakes.model(
      input.runId,
      Array.from({ length: 30 }, () => ({ retry: { afterMs: 60_000, code: 'throttled' } })),
    );
    const startedAt = clock.now();
    const stopSkipping = h.autoAdvance();
    try {
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      const record = await h.finished(id);
      expect(record.status).toBe('Failed');
      expect(record.output).toContain('model_unavailable');
      expect(record.output).toContain('(outage tolerance 600 s)');
      const timers = timersOf(h.history(id));
      // About a minute (plus up to 20 % jitter) per wait, within ten minutes: several waits.
      expect(timers.length).toBeGreaterThanOrEqual(7);
      const lastFireAt = Date.parse(timers[timers.length - 1]?.FireAt ?? '');
      expect(lastFireAt - startedAt).toBeGreaterThan(7 * 60_000);
      expect(lastFireAt - startedAt).toBeLessThanOrEqual(defaults.modelOutageToleranceMs);
      expect(clock.now() - startedAt).toBeGreaterThan(7 * 60_000);
      expect(h.fakes.inputsOf(Activities.callModel, id)).toHaveLength(timers.length + 1);
      expect(h.fakes.eventTypes(id)).toEqual(['model.waiting', 'run.failed']);
    } finally {
      stopSkipping();
    }
  });

  it('answers once the model is back after a 20-minute outage within a 1-hour tolerance', async () => {
    const agent = testAgent('resilient', { limits: { modelOutageToleranceMs: HOUR_MS } });
    const input = runInputFor(agent, 'Answer eventually');
    h.fakes.model(input.runId, [...Array.from({ length: 20 }, () => ({ retry: { afterMs: 60_000 } })), { answer: 'Back again.' }]);
    const startedAt = clock.now();
    const stopSkipping = h.autoAdvance();
    try {
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      const record = await h.finished(id);
      expect(record.status).toBe('Completed');
      expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'completed', answer: 'Back again.', usage: { modelCalls: 1 } });
      expect(timersOf(h.history(id))).toHaveLength(20);
      // Twenty waits of a minute or a little more, in durable time.
      expect(clock.now() - startedAt).toBeGreaterThanOrEqual(20 * 60_000);
      expect(clock.now() - startedAt).toBeLessThan(HOUR_MS);
    } finally {
      stopSkipping();
    }
  });
});
