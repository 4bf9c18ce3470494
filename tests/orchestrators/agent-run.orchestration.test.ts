import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Activities, Orchestrators, type CallModelInput, type RunToolInput } from '../../shared/agent-runtime/activity-catalog.js';
import { RUN_EVENTS, type AgentRunInput, type AgentRunOutput, type ToolOutcome } from '../../shared/agent-runtime/run-types.js';
import { EventType, type HistoryEvent } from '../../devhost/durable/history.js';
import { outputOf, runInputFor, startOrchestratorHarness, testAgent, type OrchestratorHarness } from '../helpers/orchestrator-harness.js';

/**
 * `agentRun` and `agentToolCall` (shared/orchestrators/) replayed by the real durable-functions
 * SDK on the devhost engine, in process, from source, with fake activities. The end-to-end
 * counterpart with the real activities is tests/agents/agent-run.e2e.test.ts.
 */

let h: OrchestratorHarness;
beforeAll(async () => {
  h = await startOrchestratorHarness();
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(() => {
  h.fakes.reset();
});

const modelInputs = (runId: string): CallModelInput[] => h.fakes.inputsOf(Activities.callModel, runId);
const outcomesSeen = (runId: string, turn: number): ToolOutcome[] => modelInputs(runId).find((m) => m.turn === turn)?.toolOutcomes ?? [];
const contentOf = (outcome: ToolOutcome | undefined): unknown => JSON.parse(outcome && 'inline' in outcome.content ? outcome.content.inline : 'null');
const count = (history: HistoryEvent[], type: number, name?: string): number => history.filter((e) => e.EventType === type && (name === undefined || e.Name === name)).length;

async function run(input: AgentRunInput): Promise<{ id: string; output: AgentRunOutput }> {
  const id = h.start(Orchestrators.agentRun, input, input.runId);
  const record = await h.finished(id);
  expect(record.status, record.output ?? '').toBe('Completed');
  return { id, output: outputOf<AgentRunOutput>(record) };
}

describe('agentRun', () => {
  it('answers in one turn', async () => {
    const input = runInputFor(testAgent('greeter'), 'Say hello');
    h.fakes.model(input.runId, [{ answer: 'Hello there.', usage: { inputTokens: 10, outputTokens: 3 } }]);
    const { output } = await run(input);
    expect(output).toEqual({ status: 'completed', answer: 'Hello there.', turns: 1, toolCalls: 0, usage: { inputTokens: 10, outputTokens: 3, modelCalls: 1 } });
    expect(modelInputs(input.runId)).toMatchObject([{ turn: 1, messageCount: 0, userInput: { inline: 'Say hello' }, toolOutcomes: [] }]);
    expect(h.fakes.inputsOf(Activities.prepareRun, input.runId)).toHaveLength(1);
    expect(h.fakes.eventTypes(input.runId)).toEqual(['run.completed']);
  });

  it('runs three tool calls in parallel with one durable timer, then answers on the second turn', async () => {
    const input = runInputFor(testAgent('researcher', { tools: [{ tool: 'lookup' }] }), 'Look three things up');
    h.fakes.model(input.runId, [
      {
        tools: [
          { name: 'lookup', args: { q: 'a' } },
          { name: 'lookup', args: { q: 'b' } },
          { name: 'lookup', args: { q: 'c' } },
        ],
      },
      { answer: 'Found them.' },
    ]);
    // Each call answers only once all three have started: a sequential fan-out would never finish.
    const allStarted = Promise.all([0, 1, 2].map((i) => h.fakes.toolStarts.next((t) => t.runId === input.runId && t.call.id === `call-1-${i}`, `tool call ${i}`)));
    h.fakes.tool('lookup', async (call: RunToolInput) => {
      await allStarted;
      return { found: JSON.parse('inline' in call.call.arguments ? call.call.arguments.inline : '{}') as unknown };
    });
    const { id, output } = await run(input);
    expect(output).toMatchObject({ status: 'completed', answer: 'Found them.', turns: 2, toolCalls: 3, usage: { modelCalls: 2 } });
    const outcomes = outcomesSeen(input.runId, 2);
    expect(outcomes.map((o) => [o.callId, o.status])).toEqual([
      ['call-1-0', 'ok'],
      ['call-1-1', 'ok'],
      ['call-1-2', 'ok'],
    ]);
    expect(outcomes.map(contentOf)).toEqual([{ found: { q: 'a' } }, { found: { q: 'b' } }, { found: { q: 'c' } }]);
    const history = h.history(id);
    expect(count(history, EventType.TaskScheduled, Activities.runTool.name)).toBe(3);
    expect(count(history, EventType.TimerCreated)).toBe(1);
  });

  it('retries a failing tool in an agentToolCall sub-orchestration, then succeeds', async () => {
    const input = runInputFor(testAgent('flaky', { tools: [{ tool: 'flaky', maxAttempts: 3 }] }), 'Try it');
    h.fakes.model(input.runId, [{ tools: [{ name: 'flaky' }] }, { answer: 'It worked.' }]);
    h.fakes.tool('flaky', (_call, attempt) => {
      if (attempt < 3) throw new Error(`flaky attempt ${attempt} failed`);
      return { attempt };
    });
    const { id } = await run(input);
    expect(h.fakes.attempts(input.runId, 'call-1-0')).toBe(3);
    const [outcome] = outcomesSeen(input.runId, 2);
    expect(outcome).toMatchObject({ callId: 'call-1-0', status: 'ok', attempts: 3 });
    expect(contentOf(outcome)).toEqual({ attempt: 3 });
    // The first attempt in the run itself; the remaining two in the sub-orchestration.
    expect(count(h.history(id), EventType.SubOrchestrationInstanceCreated, Orchestrators.agentToolCall.name)).toBe(1);
    const child = h.engine.getInstance(`${input.runId}~1~call-1-0`);
    expect(child?.status).toBe('Completed');
  });

  it('tells the model a tool failed after its last attempt, and the run goes on', async () => {
    const input = runInputFor(testAgent('broken', { tools: [{ tool: 'broken', maxAttempts: 2 }] }), 'Try it');
    h.fakes.model(input.runId, [{ tools: [{ name: 'broken' }] }, { answer: 'The tool is broken.' }]);
    h.fakes.tool('broken', (_call, attempt) => {
      throw new Error(`broken attempt ${attempt}`);
    });
    const { output } = await run(input);
    expect(output.status).toBe('completed');
    expect(h.fakes.attempts(input.runId, 'call-1-0')).toBe(2);
    const [outcome] = outcomesSeen(input.runId, 2);
    // The outcome counts every attempt: the first in agentRun, the rest in agentToolCall.
    expect(outcome).toMatchObject({ status: 'error', attempts: 2 });
    expect(contentOf(outcome)).toMatchObject({ error: 'tool_failed', attempts: 2, message: expect.stringContaining('broken attempt 2') });
  });

  it('times a slow tool out on a durable timer and tells the model', async () => {
    const input = runInputFor(testAgent('slow', { tools: [{ tool: 'slow' }, { tool: 'quick' }], limits: { toolTimeoutMs: 30 } }), 'Be quick');
    h.fakes.model(input.runId, [{ tools: [{ name: 'slow' }, { name: 'quick' }] }, { answer: 'One was too slow.' }]);
    h.fakes.tool('slow', () => h.fakes.hang());
    h.fakes.tool('quick', () => ({ fast: true }));
    const id = h.start(Orchestrators.agentRun, input, input.runId);
    // The run answers while the slow call still hangs; the instance itself completes only once
    // that abandoned activity ends (as in Durable Functions), so let it end then.
    await h.fakes.events.next((e) => e.runId === id && e.type === 'run.completed', 'run.completed');
    expect(h.fakes.attempts(id, 'call-1-0')).toBe(1);
    h.fakes.releaseAll();
    const record = await h.finished(id);
    expect(outputOf<AgentRunOutput>(record).status).toBe('completed');
    const outcomes = outcomesSeen(input.runId, 2);
    expect(outcomes.map((o) => [o.name, o.status])).toEqual([
      ['slow', 'timeout'],
      ['quick', 'ok'],
    ]);
    expect(contentOf(outcomes[0])).toMatchObject({ error: 'timeout' });
    // The activity is told the deadline too, so it can abort the tool.
    expect(h.fakes.inputsOf(Activities.runTool, input.runId).map((t) => t.timeoutMs)).toEqual([30, 30]);
  });

  it('tells the model about an unknown tool without running anything', async () => {
    const input = runInputFor(testAgent('confused', { tools: [{ tool: 'real' }] }), 'Use a tool');
    h.fakes.model(input.runId, [{ tools: [{ name: 'imaginary' }] }, { answer: 'Sorry.' }]);
    await run(input);
    expect(outcomesSeen(input.runId, 2)).toMatchObject([{ name: 'imaginary', status: 'error' }]);
    expect(h.fakes.inputsOf(Activities.runTool, input.runId)).toEqual([]);
  });

  describe('approvals', () => {
    const approvalAgent = (approvalTimeoutMs = 60_000) => testAgent('payer', { tools: [{ tool: 'pay', approval: 'required' }, { tool: 'lookup' }], limits: { approvalTimeoutMs } });

    async function untilAwaitingApproval(runId: string): Promise<void> {
      const first = await h.fakes.events.next(
        (e) => e.runId === runId && ['approval.requested', 'run.completed', 'run.failed'].includes(e.type),
        `approval.requested for ${runId}`,
      );
      expect(first.type, 'the run ended without asking for approval').toBe('approval.requested');
      // Nothing ran yet: the tools of the turn wait for the decision.
      expect(h.fakes.inputsOf(Activities.runTool, runId)).toEqual([]);
      expect(h.progress(runId)).toMatchObject({ phase: 'awaiting_approval', awaitingApproval: [{ toolCallId: 'call-1-0', tool: 'pay' }] });
    }

    it('waits for a decision, then runs the approved tool', async () => {
      const input = runInputFor(approvalAgent(), 'Pay the invoice');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }, { name: 'lookup' }] }, { answer: 'Paid.' }]);
      h.fakes.tool('pay', () => ({ paid: true }));
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      await untilAwaitingApproval(id);
      h.raise(id, RUN_EVENTS.approval, { toolCallId: 'call-1-0', approved: true, decidedBy: 'alice' });
      const record = await h.finished(id);
      expect(record.status).toBe('Completed');
      expect(outcomesSeen(id, 2).map((o) => [o.name, o.status])).toEqual([
        ['pay', 'ok'],
        ['lookup', 'ok'],
      ]);
      expect(contentOf(outcomesSeen(id, 2)[0])).toEqual({ paid: true });
      expect(h.fakes.eventTypes(id)).toEqual(['approval.requested', 'approval.decided', 'run.completed']);
      expect(h.progress(id)?.approvals).toEqual([{ toolCallId: 'call-1-0', tool: 'pay', outcome: 'approved', decidedBy: 'alice' }]);
    });

    it('tells the model the call was denied, and never runs it', async () => {
      const input = runInputFor(approvalAgent(), 'Pay the invoice');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }, { answer: 'Not paid.' }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      await untilAwaitingApproval(id);
      h.raise(id, RUN_EVENTS.approval, { toolCallId: 'call-1-0', approved: false, decidedBy: 'bob' });
      expect((await h.finished(id)).status).toBe('Completed');
      expect(outcomesSeen(id, 2)).toMatchObject([{ name: 'pay', status: 'denied' }]);
      expect(contentOf(outcomesSeen(id, 2)[0])).toMatchObject({ error: 'denied' });
      expect(h.fakes.inputsOf(Activities.runTool, id)).toEqual([]);
      expect(h.progress(id)?.approvals).toEqual([{ toolCallId: 'call-1-0', tool: 'pay', outcome: 'denied', decidedBy: 'bob' }]);
    });

    it('reports approval_timeout (not a denial) when nobody decides before the deadline, and records it', async () => {
      const input = runInputFor(approvalAgent(20), 'Pay the invoice');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }, { answer: 'Nobody decided.' }]);
      const { id } = await run(input);
      expect(outcomesSeen(id, 2)).toMatchObject([{ name: 'pay', status: 'approval_timeout' }]);
      expect(contentOf(outcomesSeen(id, 2)[0])).toMatchObject({ error: 'approval_timeout' });
      expect(h.fakes.inputsOf(Activities.runTool, id)).toEqual([]);
      expect(h.fakes.eventTypes(id)).toEqual(['approval.requested', 'approval.timed_out', 'run.completed']);
      const timedOut = h.fakes.events.seen.find((e) => e.runId === id && e.type === 'approval.timed_out');
      expect(timedOut?.data).toMatchObject({ calls: [{ toolCallId: 'call-1-0', tool: 'pay' }] });
      expect(h.progress(id)?.approvals).toEqual([{ toolCallId: 'call-1-0', tool: 'pay', outcome: 'timed_out' }]);
    });

    it('ignores a decision for a call that is not waiting', async () => {
      const input = runInputFor(approvalAgent(), 'Pay the invoice');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }, { answer: 'Paid.' }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      await untilAwaitingApproval(id);
      h.raise(id, RUN_EVENTS.approval, { toolCallId: 'call-9-9', approved: false });
      h.raise(id, RUN_EVENTS.approval, { toolCallId: 'call-1-0', approved: true });
      expect((await h.finished(id)).status).toBe('Completed');
      expect(outcomesSeen(id, 2)).toMatchObject([{ name: 'pay', status: 'ok' }]);
    });
  });

  describe('cancel', () => {
    it('ends the run while its tools are running', async () => {
      const input = runInputFor(testAgent('stuck', { tools: [{ tool: 'stuck' }] }), 'Wait forever');
      h.fakes.model(input.runId, [{ tools: [{ name: 'stuck' }] }]);
      h.fakes.tool('stuck', () => h.fakes.hang());
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      await h.fakes.toolStarts.next((t) => t.runId === id, 'the stuck tool');
      h.raise(id, RUN_EVENTS.cancel, { reason: 'user' });
      await h.fakes.events.next((e) => e.runId === id && e.type === 'run.completed', 'run.completed');
      h.fakes.releaseAll(); // the abandoned activity ends; then the instance completes
      const record = await h.finished(id);
      expect(record.status).toBe('Completed');
      expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'canceled', turns: 1, toolCalls: 1, answer: null });
      expect(modelInputs(id)).toHaveLength(1);
      expect(h.fakes.eventTypes(id)).toEqual(['run.completed']);
    });

    it('ends the run while it waits for an approval, without running the tool', async () => {
      const input = runInputFor(testAgent('payer', { tools: [{ tool: 'pay', approval: 'required' }] }), 'Pay');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      // Waiting for the decision: the approval deadline's timer is in the history.
      await h.until(id, (history) => count(history, EventType.TimerCreated) === 1, 'the approval wait');
      h.raise(id, RUN_EVENTS.cancel, {});
      const record = await h.finished(id);
      expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'canceled', turns: 1 });
      expect(h.fakes.inputsOf(Activities.runTool, id)).toEqual([]);
      expect(h.fakes.eventTypes(id)).toEqual(['approval.requested', 'run.completed']);
    });

    // The one `cancel` listener is not raced against bookkeeping activities. A cancel that lands
    // while the run awaits one (here `recordRunEvent` approval.requested) completes the listener
    // outside any Task.any, and durable-functions never re-checks a completed child of a new
    // Task.any: before the fix the run waited out the approval deadline and answered.
    it('honours a cancel that arrives while the approval request is being recorded', async () => {
      const input = runInputFor(testAgent('payer', { tools: [{ tool: 'pay', approval: 'required' }], limits: { approvalTimeoutMs: 200 } }), 'Pay');
      h.fakes.model(input.runId, [{ tools: [{ name: 'pay' }] }, { answer: 'Went on anyway.' }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      await h.fakes.events.next((e) => e.runId === id && e.type === 'approval.requested', 'approval.requested');
      h.raise(id, RUN_EVENTS.cancel, {});
      const record = await h.finished(id);
      expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'canceled', turns: 1 });
    });
  });

  it('continues as new every N turns, carrying turn count, usage, message count and pending outcomes', async () => {
    const input = runInputFor(testAgent('long', { tools: [{ tool: 'step' }], limits: { continueAsNewEveryTurns: 2 } }), 'Take five steps');
    h.fakes.model(input.runId, [
      { tools: [{ name: 'step', args: { n: 1 } }] },
      { tools: [{ name: 'step', args: { n: 2 } }] },
      { tools: [{ name: 'step', args: { n: 3 } }] },
      { tools: [{ name: 'step', args: { n: 4 } }] },
      { answer: 'Done in five.' },
    ]);
    const { id, output } = await run(input);
    expect(output).toEqual({ status: 'completed', answer: 'Done in five.', turns: 5, toolCalls: 4, usage: { inputTokens: 50, outputTokens: 25, modelCalls: 5 } });
    const models = modelInputs(id);
    expect(models.map((m) => m.turn)).toEqual([1, 2, 3, 4, 5]);
    expect(models.map((m) => m.userInput !== undefined)).toEqual([true, false, false, false, false]);
    // Turn 3 is the first of generation 2: it gets turn 2's tool outcome from the carry.
    expect(models[2]?.toolOutcomes.map(contentOf)).toEqual([{ echo: { inline: '{"n":2}' } }]);
    expect(models.map((m) => m.messageCount)).toEqual([0, 2, 4, 6, 8]);
    // Only the last generation's history is kept; it started from the carry.
    const history = h.history(id);
    const started = history.find((e) => e.EventType === EventType.ExecutionStarted);
    const carried = JSON.parse(String(started?.Input)) as AgentRunInput;
    expect(carried.carry).toMatchObject({ turn: 4, toolCalls: 4, generation: 2, usage: { modelCalls: 4 }, pending: [{ callId: 'call-4-0', status: 'ok' }] });
    expect(h.fakes.inputsOf(Activities.prepareRun, id)).toHaveLength(1);
  });

  it('stops at maxTurns', async () => {
    const input = runInputFor(testAgent('loop', { tools: [{ tool: 'step' }], limits: { maxTurns: 2 } }), 'Loop');
    h.fakes.model(input.runId, [{ tools: [{ name: 'step' }] }, { tools: [{ name: 'step' }] }]);
    const { output } = await run(input);
    expect(output).toMatchObject({ status: 'max_turns', turns: 2, toolCalls: 2, answer: null });
  });

  describe('model outages', () => {
    it('waits on durable timers while the model advises retry, then answers', async () => {
      const input = runInputFor(testAgent('patient', { limits: { modelOutageToleranceMs: 60_000 } }), 'Answer eventually');
      h.fakes.model(input.runId, [{ retry: { afterMs: 10 } }, { retry: { afterMs: 10 } }, { retry: { afterMs: 10 } }, { answer: 'Back again.' }]);
      const { id, output } = await run(input);
      expect(output).toMatchObject({ status: 'completed', answer: 'Back again.', turns: 1, usage: { modelCalls: 1 } });
      // The same input every time, one durable timer between calls, one model.waiting event.
      const models = modelInputs(id);
      expect(models).toHaveLength(4);
      expect(new Set(models.map((m) => JSON.stringify(m))).size).toBe(1);
      expect(count(h.history(id), EventType.TimerCreated)).toBe(3);
      expect(h.fakes.eventTypes(id)).toEqual(['model.waiting', 'run.completed']);
    });

    it('fails with model_unavailable once the outage outlasts modelOutageToleranceMs', async () => {
      const input = runInputFor(testAgent('impatient', { limits: { modelOutageToleranceMs: 50 } }), 'Answer');
      h.fakes.model(
        input.runId,
        Array.from({ length: 20 }, () => ({ retry: { afterMs: 10, code: 'circuit_open' } })),
      );
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      const record = await h.finished(id);
      expect(record.status).toBe('Failed');
      expect(record.output).toContain('model_unavailable');
      expect(record.output).toContain('circuit_open');
      // It waited at least once on a durable timer before giving up.
      expect(modelInputs(id).length).toBeGreaterThanOrEqual(2);
      expect(count(h.history(id), EventType.TimerCreated)).toBeGreaterThanOrEqual(1);
      expect(h.fakes.eventTypes(id)).toEqual(['model.waiting', 'run.failed']);
    });

    it('fails at once on a non-retryable model failure', async () => {
      const input = runInputFor(testAgent('filtered'), 'Something filtered');
      h.fakes.model(input.runId, [{ failure: { code: 'content_filter', message: 'the prompt was filtered' } }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      const record = await h.finished(id);
      expect(record.status).toBe('Failed');
      expect(record.output).toContain('model call failed (content_filter): the prompt was filtered');
      expect(modelInputs(id)).toHaveLength(1);
      const failed = h.fakes.events.seen.find((e) => e.runId === id && e.type === 'run.failed');
      expect(failed?.data).toMatchObject({ turns: 1, error: expect.stringContaining('content_filter') });
    });

    it('retries a crashing model activity modelMaxAttempts times, then fails', async () => {
      const input = runInputFor(testAgent('crashy', { limits: { modelMaxAttempts: 2 } }), 'Crash');
      h.fakes.model(input.runId, [{ throws: 'socket hang up' }, { throws: 'socket hang up' }]);
      const id = h.start(Orchestrators.agentRun, input, input.runId);
      const record = await h.finished(id);
      expect(record.status).toBe('Failed');
      expect(record.output).toContain('socket hang up');
      expect(modelInputs(id)).toHaveLength(2);
    });
  });

  describe('sub-agents', () => {
    const child = () => testAgent('helper', { tools: [{ tool: 'lookup' }] });
    const parent = () => testAgent('lead', { tools: [{ agent: 'helper' }, { tool: 'lookup' }] });

    it('runs a sub-agent as a sub-orchestration and rolls its usage up', async () => {
      const input = runInputFor(parent(), 'Delegate', { subAgents: { helper: child() } });
      const childRunId = `${input.runId}--call-1-0`;
      h.fakes.model(input.runId, [{ tools: [{ name: 'helper', args: { task: 'find the answer' } }] }, { answer: 'The helper says 42.' }]);
      h.fakes.model(childRunId, [{ answer: '42', usage: { inputTokens: 7, outputTokens: 1 } }]);
      const { id, output } = await run(input);
      expect(output).toMatchObject({ status: 'completed', answer: 'The helper says 42.', usage: { inputTokens: 27, outputTokens: 11, modelCalls: 3 } });
      expect(modelInputs(childRunId)).toMatchObject([{ userInput: { inline: 'find the answer' } }]);
      const childRun = h.fakes.inputsOf(Activities.prepareRun, childRunId)[0]?.run;
      expect(childRun).toMatchObject({ depth: 1, initiator: { kind: 'agent', id } });
      expect(outcomesSeen(id, 2)).toMatchObject([{ name: 'helper', status: 'ok' }]);
      expect(contentOf(outcomesSeen(id, 2)[0])).toEqual({ status: 'completed', answer: '42', turns: 1 });
      expect(count(h.history(id), EventType.SubOrchestrationInstanceCreated, Orchestrators.agentRun.name)).toBe(1);
    });

    it('reports a failed sub-agent to the model and keeps its sibling tool result', async () => {
      const input = runInputFor(parent(), 'Delegate', { subAgents: { helper: child() } });
      const childRunId = `${input.runId}--call-1-0`;
      h.fakes.model(input.runId, [{ tools: [{ name: 'helper', args: { task: 'fail' } }, { name: 'lookup' }] }, { answer: 'The helper failed.' }]);
      h.fakes.model(childRunId, [{ failure: { code: 'auth', message: 'no access' } }]);
      const { id, output } = await run(input);
      expect(output.status).toBe('completed');
      const outcomes = outcomesSeen(id, 2);
      expect(outcomes.map((o) => [o.name, o.status])).toEqual([
        ['helper', 'error'],
        ['lookup', 'ok'],
      ]);
      expect(contentOf(outcomes[0])).toMatchObject({ error: 'sub_agent_failed', message: expect.stringContaining('no access') });
      expect(h.engine.getInstance(childRunId)?.status).toBe('Failed');
    });

    it('does not run a sub-agent past maxSubAgentDepth', async () => {
      const input = {
        ...runInputFor(testAgent('deep', { tools: [{ agent: 'helper' }], limits: { maxSubAgentDepth: 1 } }), 'Delegate', { subAgents: { helper: child() } }),
        depth: 1,
      };
      h.fakes.model(input.runId, [{ tools: [{ name: 'helper', args: { task: 'x' } }] }, { answer: 'Could not delegate.' }]);
      await run(input);
      expect(contentOf(outcomesSeen(input.runId, 2)[0])).toMatchObject({ error: 'sub_agent_unavailable' });
    });
  });
});
