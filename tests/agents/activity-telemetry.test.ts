import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { createAgentActivities } from '../../shared/agent-runtime/agent-activities.js';
import { MemoryRunEventSink } from '../../shared/agent-runtime/run-events.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { createModelGateway } from '../../shared/model/model-gateway.js';
import { createScriptedModelClient, textTurn, toolCallsTurn } from '../../shared/model/scripted-model-client.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { builtInTools } from '../../shared/tools/built-in-tools.js';
import { contentPolicy, NO_CONTENT, type ContentPolicy } from '../../shared/telemetry/content-policy.js';
import { runSpanIdOf, runTraceOf } from '../../shared/telemetry/trace-context.js';

/**
 * The spans `callModel` and `runTool` make (issue 14): `chat {model}` only for a real model call,
 * `execute_tool {tool}` per execution, both under the run's derived span; and content (prompts,
 * outputs, tool arguments and results) only when the environment and the tenant opt in.
 */
const catalog = AgentCatalog.fromDirectory(join(import.meta.dirname, '..', '..', 'agents'));
const spans = new InMemorySpanExporter();
const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
});
afterAll(() => {
  trace.disable();
});
beforeEach(() => spans.reset());

let runs = 0;

async function setup(turns: Parameters<typeof createScriptedModelClient>[0], content: ContentPolicy) {
  const model = createScriptedModelClient(turns);
  const gateway = createModelGateway({
    clients: () => model,
    clock: { nowMs: () => 0, sleep: async () => {} },
    circuit: { failureThreshold: 3, cooldownMs: 1000 },
    maxAttemptsPerDeployment: 1,
    retryAfterCapMs: 0,
  });
  const activities = createAgentActivities({
    blobs: new MemoryBlobStore(),
    gateway,
    tools: new Map(builtInTools.map((t) => [t.name, t])),
    events: new MemoryRunEventSink(),
    nowMs: () => Date.UTC(2026, 10, 26),
    egress: { local: true, resolve: async () => Promise.reject(new Error('no DNS in this test')) },
    egressAllowList: async () => [],
    telemetry: { providerName: 'azure.ai.openai', content },
  });
  const agent = await catalog.resolve('contoso', 'support-triage');
  const run: AgentRunInput = {
    tenantId: 'contoso',
    // A new run id per setup: the activities cache runs and conversations per process.
    runId: `contoso--telemetry${String((runs += 1)).padStart(8, '0')}`,
    agent,
    input: { inline: 'PROMPT-TEXT my export is empty' },
    variables: { productName: 'Contoso CRM' },
    initiator: { kind: 'user', id: 'u1' },
    correlationId: 'corr-1',
    depth: 0,
    traceparent: caller,
  };
  const { agent: ref } = await activities.prepareRun({ run });
  return { activities, run, ref, trace: runTraceOf(run.runId, caller) };
}

const script = () => [toolCallsTurn([{ id: 'c1', name: 'current_time', arguments: { password: 'hunter2', zone: 'UTC' } }]), textTurn('OUTPUT-TEXT done')];

async function oneTurn(content: ContentPolicy) {
  const { activities, run, ref, trace: runTrace } = await setup(script(), content);
  const first = await activities.callModel({ ...run, agent: ref, trace: runTrace, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] });
  const outcome = await activities.runTool({ ...run, agent: ref, trace: runTrace, call: first.toolCalls[0]! });
  await activities.callModel({ ...run, agent: ref, trace: runTrace, turn: 2, messageCount: first.messageCount, toolOutcomes: [outcome] });
  return { activities, run, ref, runTrace, first };
}

describe('activity spans', () => {
  it('hang from the run span, with GenAI attributes and no content by default', async () => {
    const { run } = await oneTurn(NO_CONTENT);
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual(['chat gpt-4o-mini', 'execute_tool current_time', 'chat gpt-4o-mini']);
    for (const span of finished) {
      expect(span.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(span.parentSpanContext?.spanId).toBe(runSpanIdOf(run.runId));
      expect(span.attributes['tenant.id']).toBe('contoso');
      expect(span.attributes['gen_ai.conversation.id']).toBe(run.runId);
    }
    expect(finished[0]?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'azure.ai.openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.finish_reasons': ['tool_calls'],
      'app.model.deployment': 'gpt-4o-mini',
      'app.model.fallback': false,
      'gen_ai.agent.id': 'support-triage',
    });
    expect(typeof finished[0]?.attributes['gen_ai.usage.input_tokens']).toBe('number');
    expect(finished[1]?.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'current_time', 'gen_ai.tool.call.id': 'c1' });
    const text = JSON.stringify(finished.map((s) => s.attributes));
    expect(text).not.toMatch(/PROMPT-TEXT|OUTPUT-TEXT|hunter2|You are the support triage/);
    expect(text).not.toMatch(/gen_ai\.(input|output)\.messages|gen_ai\.tool\.call\.(arguments|result)|gen_ai\.system_instructions/);
  });

  it('record content only when the environment and the tenant both opt in, secrets masked', async () => {
    await oneTurn(contentPolicy(true, async () => false));
    expect(JSON.stringify(spans.getFinishedSpans().map((s) => s.attributes))).not.toMatch(/PROMPT-TEXT|OUTPUT-TEXT/);
    spans.reset();

    await oneTurn(contentPolicy(true, async (tenantId) => tenantId === 'contoso'));
    const [chat1, tool, chat2] = spans.getFinishedSpans();
    expect(String(chat1?.attributes['gen_ai.input.messages'])).toContain('PROMPT-TEXT');
    expect(String(chat1?.attributes['gen_ai.system_instructions'])).toContain('Contoso CRM');
    expect(String(tool?.attributes['gen_ai.tool.call.arguments'])).toContain('UTC');
    expect(String(tool?.attributes['gen_ai.tool.call.arguments'])).not.toContain('hunter2');
    expect(tool?.attributes['gen_ai.tool.call.result']).toBeDefined();
    expect(String(chat2?.attributes['gen_ai.output.messages'])).toContain('OUTPUT-TEXT');
  });

  it('makes no chat span when a re-run finds the stored answer, and a tool re-run is its own attempt', async () => {
    const { activities, run, ref, runTrace, first } = await oneTurn(NO_CONTENT);
    spans.reset();
    // A Durable retry of the first model step: the answer is in the conversation, the model is not asked.
    const again = await activities.callModel({ ...run, agent: ref, trace: runTrace, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] });
    expect(again.toolCalls).toEqual(first.toolCalls);
    await activities.runTool({ ...run, agent: ref, trace: runTrace, call: first.toolCalls[0]! });
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual(['execute_tool current_time']);
  });
});
