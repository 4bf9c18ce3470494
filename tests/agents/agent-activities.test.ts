import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { createAgentActivities } from '../../shared/agent-runtime/agent-activities.js';
import { MemoryRunEventSink } from '../../shared/agent-runtime/run-events.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { createModelGateway } from '../../shared/model/model-gateway.js';
import { createScriptedModelClient, errorTurn, textTurn, toolCallsTurn } from '../../shared/model/scripted-model-client.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import { builtInTools } from '../../shared/tools/built-in-tools.js';

const catalog = AgentCatalog.fromDirectory(join(import.meta.dirname, '..', '..', 'agents'));

async function setup(turns: Parameters<typeof createScriptedModelClient>[0]) {
  const blobs = new MemoryBlobStore();
  const model = createScriptedModelClient(turns);
  const events = new MemoryRunEventSink();
  const gateway = createModelGateway({
    clients: () => model,
    clock: { nowMs: () => 0, sleep: async () => {} },
    circuit: { failureThreshold: 3, cooldownMs: 1000 },
    maxAttemptsPerDeployment: 1,
    retryAfterCapMs: 0,
  });
  const activities = createAgentActivities({
    blobs,
    gateway,
    tools: new Map(builtInTools.map((t) => [t.name, t])),
    events,
    nowMs: () => Date.UTC(2026, 10, 26),
    egress: { local: true, resolve: async () => Promise.reject(new Error('no DNS in this test')) },
    egressAllowList: async () => [],
  });
  const agent = await catalog.resolve('contoso', 'support-triage');
  const run: AgentRunInput = {
    tenantId: 'contoso',
    runId: 'contoso--aaaaaaaaaaaaaaaaaaaa',
    agent,
    input: { inline: 'My export is empty' },
    variables: { productName: 'Contoso CRM' },
    initiator: { kind: 'cli', id: 'test' },
    correlationId: 'corr-1',
    depth: 0,
  };
  const { agent: ref } = await activities.prepareRun({ run });
  return { blobs, model, events, activities, run, ref };
}

describe('agent activities', () => {
  it('callModel appends the user message, renders the prompt, and returns tool calls', async () => {
    const { activities, run, ref, model, events } = await setup([toolCallsTurn([{ id: 'c1', name: 'list_documents', arguments: {} }])]);
    const out = await activities.callModel({ ...run, agent: ref, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] });
    expect(out.toolCalls).toEqual([{ id: 'c1', name: 'list_documents', arguments: { inline: '{}' } }]);
    expect(out.messageCount).toBe(2); // user + assistant
    const request = model.calls[0]?.request;
    expect(request?.messages[0]).toMatchObject({ role: 'system' });
    expect(String(request?.messages[0]?.content)).toContain('Contoso CRM');
    expect(request?.messages[1]).toEqual({ role: 'user', content: 'My export is empty' });
    expect(request?.tools?.map((t) => t.name)).toEqual(['list_documents', 'read_document', 'current_time', 'send_reply']);
    expect(events.events.map((e) => e.type)).toEqual(['run.started', 'model.called']);
  });

  it('runTool feeds invalid arguments back as a tool error, and large results go to Blob by reference', async () => {
    const { activities, run, ref, blobs } = await setup([]);
    const bad = await activities.runTool({ ...run, agent: ref, call: { id: 'c2', name: 'read_document', arguments: { inline: '{"name": 5}' } } });
    expect(bad.status).toBe('error');
    expect(JSON.parse((bad.content as { inline: string }).inline)).toMatchObject({ error: 'invalid_arguments' });

    await new TenantBlobSpace(blobs, 'contoso').put('documents/big.md', 'y'.repeat(100 * 1024));
    const big = await activities.runTool({ ...run, agent: ref, call: { id: 'c3', name: 'read_document', arguments: { inline: '{"name":"big.md"}' } } });
    expect(big.status).toBe('ok');
    expect((big.content as { blob: string }).blob).toMatch(/^runs\/contoso--aaaaaaaaaaaaaaaaaaaa\/payloads\/c3-result-[0-9a-f-]+\.json$/);
  });

  it('callModel shows tool results to the model on the next turn and returns the answer', async () => {
    const { activities, run, ref, model } = await setup([textTurn('Here is what to do.')]);
    const out = await activities.callModel({
      ...run,
      agent: ref,
      turn: 2,
      messageCount: 0,
      userInput: run.input,
      toolOutcomes: [{ callId: 'c1', name: 'list_documents', status: 'ok', content: { inline: '{"documents":[]}' } }],
    });
    expect(out.answer).toEqual({ inline: 'Here is what to do.' });
    expect(model.calls[0]?.request.messages.at(-1)).toEqual({ role: 'tool', toolCallId: 'c1', content: '{"documents":[]}' });
  });

  it('callModel returns non-retryable model failures instead of throwing them', async () => {
    const { activities, run, ref } = await setup([errorTurn('bad_request', { endpointStatus: 400 })]);
    const out = await activities.callModel({ ...run, agent: ref, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] });
    expect(out.failure?.code).toBe('bad_request');
  });
});
