import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Activities, Orchestrators, type CallModelInput } from '../../shared/agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../../shared/agent-runtime/run-types.js';
import { outputOf, runInputFor, startOrchestratorHarness, testAgent, type OrchestratorHarness } from '../helpers/orchestrator-harness.js';

/**
 * A running run stops at its tenant's period budget: `callModel` reports `budget_exhausted` (as
 * data, before calling the model) and `agentRun` ends Completed with end reason
 * `budget_exhausted`, like at its own token limit, not Failed.
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

const spent = { failure: { code: 'budget_exhausted', message: "the tenant's token budget for this billing period is spent (1000 of 1000 tokens)" } };

describe('agentRun at the tenant budget', () => {
  it('ends Completed with budget_exhausted when the budget is spent before the next model call, keeping the usage so far', async () => {
    const input = runInputFor(testAgent('budgeted', { tools: [{ tool: 'lookup' }] }), 'Look it up');
    h.fakes.model(input.runId, [{ tools: [{ name: 'lookup', args: { q: 'a' } }], usage: { inputTokens: 600, outputTokens: 400 } }, spent]);
    h.fakes.tool('lookup', () => ({ found: 'a' }));
    const id = h.start(Orchestrators.agentRun, input, input.runId);
    const record = await h.finished(id);
    expect(record.status, record.output ?? '').toBe('Completed');
    const output = outputOf<AgentRunOutput>(record);
    expect(output).toEqual({ status: 'budget_exhausted', answer: null, turns: 2, toolCalls: 1, usage: { inputTokens: 600, outputTokens: 400, modelCalls: 1 } });
    expect(h.fakes.inputsOf<CallModelInput>(Activities.callModel, id)).toHaveLength(2);
    expect(h.fakes.eventTypes(id)).toEqual(['run.completed']);
    const completed = h.fakes.events.seen.find((e) => e.runId === id && e.type === 'run.completed');
    expect(completed?.data).toMatchObject({ status: 'budget_exhausted', budgetLimit: 'tenant_period', turns: 2 });
  });

  it('a run admitted just before the budget ran out ends at its first model call', async () => {
    const input = runInputFor(testAgent('late'), 'Hello');
    h.fakes.model(input.runId, [spent]);
    const id = h.start(Orchestrators.agentRun, input, input.runId);
    const record = await h.finished(id);
    expect(record.status).toBe('Completed');
    expect(outputOf<AgentRunOutput>(record)).toMatchObject({ status: 'budget_exhausted', turns: 1, usage: { modelCalls: 0 } });
  });
});
