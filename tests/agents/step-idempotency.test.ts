import { join } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { createAgentActivities } from '../../shared/agent-runtime/agent-activities.js';
import type { CallModelInput } from '../../shared/agent-runtime/activity-catalog.js';
import { MemoryRunEventSink } from '../../shared/agent-runtime/run-events.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { createModelGateway } from '../../shared/model/model-gateway.js';
import { createScriptedModelClient, errorTurn, textTurn, toolCallsTurn, type ScriptedTurn } from '../../shared/model/scripted-model-client.js';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { defineTool } from '../../shared/tools/tool.js';

/**
 * Every agent activity is at-least-once: run twice (a crash after its write, a timeout, a
 * retry), it must report what it reported the first time, and the conversation must show what
 * the run acts on. The scripted model here answers a repeated request differently, with new
 * tool-call ids, as the real service does.
 */

const catalog = AgentCatalog.fromDirectory(join(import.meta.dirname, '..', '..', 'agents'));

async function setup(turns: ScriptedTurn[], options: { maxConcurrentCalls?: number } = {}) {
  const blobs = new MemoryBlobStore();
  const model = createScriptedModelClient(turns);
  const invocations: string[] = [];
  const sideEffect = defineTool({
    name: 'send_reply',
    description: 'Counts its invocations (stands in for a tool with a side effect).',
    input: z.object({ text: z.string() }),
    outputMaxBytes: 1024,
    sideEffects: true,
    execute: async (input, ctx) => {
      invocations.push(`${ctx.idempotencyKey}:${input.text}`);
      return { queued: true, n: invocations.length };
    },
  });
  const gateway = createModelGateway({
    clients: () => model,
    clock: { nowMs: () => 0, sleep: async () => {} },
    circuit: { failureThreshold: 3, cooldownMs: 1000 },
    maxAttemptsPerDeployment: 1,
    retryAfterCapMs: 0,
    ...options,
  });
  const activities = createAgentActivities({
    blobs,
    gateway,
    tools: new Map([[sideEffect.name, sideEffect]]),
    events: new MemoryRunEventSink(),
    nowMs: () => Date.UTC(2026, 11, 2),
    egress: { local: true, resolve: async () => Promise.reject(new Error('no DNS in this test')) },
    egressAllowList: async () => [],
  });
  const agent = await catalog.resolve('contoso', 'support-triage');
  const run: AgentRunInput = {
    tenantId: 'contoso',
    runId: `contoso--step${Math.random().toString(36).slice(2, 12)}`,
    agent,
    input: { inline: 'Please reply to the customer' },
    variables: { productName: 'Contoso CRM' },
    initiator: { kind: 'cli', id: 'test' },
    correlationId: 'corr-1',
    depth: 0,
  };
  const { agent: ref } = await activities.prepareRun({ run });
  const first: CallModelInput = { ...run, agent: ref, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] };
  return { blobs, model, activities, run, ref, first, invocations };
}

describe('callModel run twice', () => {
  it('returns the stored answer, not a second one, and does not ask the model again', async () => {
    const { activities, model, first } = await setup([
      toolCallsTurn([{ id: 'call_first', name: 'send_reply', arguments: { text: 'A' } }], { usage: { inputTokens: 11, outputTokens: 5 } }),
      toolCallsTurn([{ id: 'call_second', name: 'send_reply', arguments: { text: 'B' } }]),
    ]);
    const once = await activities.callModel(first);
    const twice = await activities.callModel(first);
    expect(twice).toEqual(once);
    expect(twice.toolCalls.map((c) => c.id)).toEqual(['call_first']);
    expect(twice.usage).toEqual({ inputTokens: 11, outputTokens: 5, modelCalls: 1 });
    expect(model.calls).toHaveLength(1);
  });

  it('acts on the answer that was stored first when two runs of the step race', async () => {
    const { activities, blobs, run, first } = await setup([
      toolCallsTurn([{ id: 'call_one', name: 'send_reply', arguments: { text: 'one' } }]),
      toolCallsTurn([{ id: 'call_two', name: 'send_reply', arguments: { text: 'two' } }]),
    ]);
    const [a, b] = await Promise.all([activities.callModel(first), activities.callModel(first)]);
    expect(a.toolCalls).toEqual(b.toolCalls);
    // What both report is what the conversation holds (read back by a process with no cache).
    const stored = JSON.parse((await new TenantBlobSpace(blobs, 'contoso').get(`runs/${run.runId}/conversation/000001.json`))!.toString('utf8')) as {
      toolCalls: { id: string }[];
    };
    expect(stored.toolCalls.map((c) => c.id)).toEqual(a.toolCalls.map((c) => c.id));
  });

  it('keeps the next turn consistent: the tool message answers the call the conversation shows', async () => {
    const { activities, model, first, run, ref } = await setup([
      toolCallsTurn([{ id: 'call_kept', name: 'send_reply', arguments: { text: 'A' } }]),
      toolCallsTurn([{ id: 'call_lost', name: 'send_reply', arguments: { text: 'B' } }]),
      textTurn('Done.'),
    ]);
    await activities.callModel(first);
    const rerun = await activities.callModel(first);
    const call = rerun.toolCalls[0]!;
    const outcome = await activities.runTool({ ...run, agent: ref, call });
    await activities.callModel({ ...run, agent: ref, turn: 2, messageCount: rerun.messageCount, toolOutcomes: [outcome] });
    const messages = model.calls.at(-1)!.request.messages;
    const assistant = messages.find((m) => m.role === 'assistant');
    const tool = messages.find((m) => m.role === 'tool');
    expect(assistant && 'toolCalls' in assistant ? assistant.toolCalls?.map((c) => c.id) : []).toEqual(['call_kept']);
    expect(tool && 'toolCallId' in tool ? tool.toolCallId : '').toBe('call_kept');
  });

  it('hands the gateway retry advice to the orchestrator as data and stores nothing', async () => {
    const { activities, first, blobs, run } = await setup([errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 3_000 })]);
    const out = await activities.callModel({ ...first, deployments: ['only'] });
    expect(out.retry).toMatchObject({ afterMs: 3_000, code: 'all_deployments_failed' });
    expect(out.toolCalls).toEqual([]);
    expect(out.usage.modelCalls).toBe(0);
    expect(await new TenantBlobSpace(blobs, 'contoso').get(`runs/${run.runId}/conversation/000001.json`)).toBeUndefined();
  });

  it('refuses a call over the instance cap at once (retry advice), so a hung model cannot hold every slot', async () => {
    let release: () => void = () => {};
    const hung = new Promise<void>((r) => (release = r));
    const { activities, first } = await setup(
      [{ respond: async () => (await hung, (toolCallsTurn([{ name: 'send_reply', arguments: { text: 'x' } }]) as { response: never }).response) }],
      { maxConcurrentCalls: 1 },
    );
    const inFlight = activities.callModel(first);
    const refused = await activities.callModel({ ...first, runId: first.runId });
    expect(refused.retry).toMatchObject({ code: 'capacity_exceeded', afterMs: 1_000 });
    release();
    expect((await inFlight).toolCalls).toHaveLength(1);
  });

  it('fails at once with conversation_lost when a message the run relied on is missing', async () => {
    const { activities, first, blobs, run, model } = await setup([]);
    // As after Azurite lost its last writes: the orchestration moved past message 0 (user) and
    // 1 (assistant), but the store holds only message 1.
    await new TenantBlobSpace(blobs, 'contoso').put(`runs/${run.runId}/conversation/000001.json`, JSON.stringify({ role: 'assistant', content: 'hi' }));
    const out = await activities.callModel({ ...first, turn: 2, messageCount: 2, toolOutcomes: [] });
    expect(out.failure?.code).toBe('conversation_lost');
    expect(out.failure?.message).toContain(`conversation message 0 of run ${run.runId} is missing`);
    expect(model.calls).toHaveLength(0);
  });
});

describe('runTool run twice', () => {
  it('invokes the tool once and returns the stored outcome again', async () => {
    const { activities, run, ref, invocations } = await setup([]);
    const call = { id: 'call_x', name: 'send_reply', arguments: { inline: '{"text":"hello"}' } };
    const once = await activities.runTool({ ...run, agent: ref, call });
    const twice = await activities.runTool({ ...run, agent: ref, call });
    expect(twice).toEqual(once);
    expect(invocations).toEqual([`${run.runId}:call_x:hello`]);
  });
});
