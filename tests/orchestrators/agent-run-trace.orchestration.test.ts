import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Activities, Orchestrators } from '../../shared/agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../../shared/agent-runtime/run-types.js';
import { runSpanIdOf } from '../../shared/telemetry/trace-context.js';
import { EventType } from '../../devhost/durable/history.js';
import { outputOf, runInputFor, startOrchestratorHarness, testAgent, type OrchestratorHarness } from '../helpers/orchestrator-harness.js';

/**
 * Trace context through `agentRun` (issue 14): the orchestrator makes no spans however often it
 * is replayed, and carries the same trace context to every activity of a run, across
 * continue-as-new, and a child context to its sub-agents. With a tracer provider registered in
 * this process (where the orchestrator runs), any span it made would be recorded here.
 */
const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const spans = new InMemorySpanExporter();
let h: OrchestratorHarness;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  h = await startOrchestratorHarness();
});
afterAll(async () => {
  await h?.stop();
  trace.disable();
});

describe('agentRun carries trace context as data', () => {
  it('replays many times, makes no span, and gives every activity of the run the same parent', async () => {
    const child = testAgent('helper', { tools: [] });
    const parent = testAgent('lead', { tools: [{ agent: 'helper' }, { tool: 'lookup' }], limits: { continueAsNewEveryTurns: 1 } });
    const input = { ...runInputFor(parent, 'Delegate', { subAgents: { helper: child } }), traceparent: caller };
    const childRunId = `${input.runId}--call-1-0`;
    h.fakes.model(input.runId, [
      {
        tools: [
          { name: 'helper', args: { task: 'find it' } },
          { name: 'lookup', args: {} },
        ],
      },
      { tools: [{ name: 'lookup', args: {} }] },
      { answer: 'Done.' },
    ]);
    h.fakes.model(childRunId, [{ answer: '42' }]);
    const id = h.start(Orchestrators.agentRun, input, input.runId);
    const record = await h.finished(id);
    expect(record.status, record.output ?? '').toBe('Completed');
    expect(outputOf<AgentRunOutput>(record).turns).toBe(3);

    // The orchestrator ran many episodes (every completion is a replay), and no span came of it.
    expect(h.history(id).filter((e) => e.EventType === EventType.OrchestratorStarted).length).toBeGreaterThan(1);
    expect(spans.getFinishedSpans()).toHaveLength(0);

    const own = `00-4bf92f3577b34da6a3ce929d0e0e4736-${runSpanIdOf(input.runId)}-01`;
    const models = h.fakes.inputsOf(Activities.callModel, input.runId);
    const tools = h.fakes.inputsOf(Activities.runTool, input.runId);
    const events = h.fakes.inputsOf(Activities.recordRunEvent, input.runId);
    expect(models).toHaveLength(3); // three generations: continue-as-new after every turn
    for (const step of [...models, ...tools, ...events]) expect(step.trace?.traceparent).toBe(own);

    // The run's end carries what its span needs: the parent, the first generation's start, the agent, the door.
    const completed = events.find((e) => e.type === 'run.completed');
    expect(completed?.trace).toEqual({ traceparent: own, parent: caller });
    const prepared = h.fakes.inputsOf(Activities.prepareRun, input.runId)[0];
    expect(completed?.data).toMatchObject({ startedAt: prepared?.startedAt, door: 'runs-api', depth: 0, agent: { id: 'lead', version: 1 } });

    // The sub-agent hangs from the parent run's span, in the same trace.
    const childRun = h.fakes.inputsOf(Activities.prepareRun, childRunId)[0]?.run;
    expect(childRun?.traceparent).toBe(own);
    const childModels = h.fakes.inputsOf(Activities.callModel, childRunId);
    expect(childModels[0]?.trace?.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${runSpanIdOf(childRunId)}-01`);
  });
});
