import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Activities, Orchestrators } from '../../shared/agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../../shared/agent-runtime/run-types.js';
import type { BatchItemResult, BatchLaneInput, BatchRunInput, BatchRunOutput } from '../../shared/batch/batch-types.js';
import type { BotConversationInput, BotConversationOutput, ConversationRef } from '../../shared/bot/bot-types.js';
import { replyInstanceIdFor, type QueuedAgentRunInput, type RunReply } from '../../shared/queue/reply-types.js';
import { newRunId, outputOf, runInputFor, startOrchestratorHarness, testAgent, type OrchestratorHarness } from '../helpers/orchestrator-harness.js';

/**
 * The orchestrators around `agentRun` (shared/orchestrators/): `batchRun` with its lanes, the bot
 * wrapper `botConversationRun` and the queue wrapper `queuedAgentRun`, replayed in process with
 * fake activities; the agent runs inside them are the real `agentRun`.
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

describe('batchRun', () => {
  function batchInput(maxConcurrency: number): BatchRunInput {
    return {
      batchId: newRunId('batch'),
      scheduleId: 'nightly',
      tenantId: 'contoso',
      agentId: 'summarizer',
      slot: '2026-01-01T00:00:00.000Z',
      maxConcurrency,
      input: { template: { pointer: '' }, items: ['a', 'b', 'c', 'd', 'e'] },
      variables: {},
      initiator: { kind: 'schedule', id: 'nightly' },
      correlationId: 'corr-batch',
    };
  }

  it('runs the items in lanes of maxConcurrency, records a failed item and a rejected one, and writes the summary', async () => {
    const input = batchInput(2);
    const agent = testAgent('summarizer');
    const runIds = [0, 1, 2, 3, 4].map((i) => `${input.batchId}.item${i}`);
    h.fakes.prepareBatch = () => ({
      agent,
      subAgents: {},
      items: [
        { runId: runIds[0] as string, input: { inline: 'a' }, source: 'list[0]' },
        { runId: runIds[1] as string, input: { inline: 'b' }, source: 'list[1]' },
        { runId: runIds[2] as string, input: { inline: 'c' }, source: 'list[2]', rejected: 'does not fit the template' },
        { runId: runIds[3] as string, input: { inline: 'd' }, source: 'list[3]' },
        { runId: runIds[4] as string, input: { inline: 'e' }, source: 'list[4]' },
      ],
    });
    h.fakes.model(runIds[0] as string, [{ answer: 'A' }]);
    h.fakes.model(runIds[1] as string, [{ failure: { code: 'content_filter', message: 'filtered' } }]);
    h.fakes.model(runIds[3] as string, [{ answer: 'D' }]);
    h.fakes.model(runIds[4] as string, [{ answer: 'E' }]);

    const id = h.start(Orchestrators.batchRun, input, input.batchId);
    const record = await h.finished(id);
    expect(record.status, record.output ?? '').toBe('Completed');
    expect(outputOf<BatchRunOutput>(record)).toEqual({ batchId: input.batchId, total: 5, completed: 3, failed: 2, summaryPath: `batches/nightly/${input.batchId}.json` });

    // Two lanes, the runnable items dealt round-robin; the rejected item never starts a run.
    const lanes = [0, 1].map((k) => JSON.parse(h.engine.getInstance(`${input.batchId}.lane${k}`)?.input ?? 'null') as BatchLaneInput);
    expect(lanes.map((lane) => lane.runs.map((r) => r.index))).toEqual([
      [0, 3],
      [1, 4],
    ]);
    expect(h.engine.getInstance(`${input.batchId}.lane2`)).toBeUndefined();
    expect(h.engine.getInstance(runIds[2] as string)).toBeUndefined();
    expect(h.fakes.inputsOf(Activities.callModel, runIds[2])).toEqual([]);

    const [summary] = h.fakes.inputsOf(Activities.writeBatchSummary);
    const items = summary?.items as BatchItemResult[];
    expect(items.map((i) => [i.index, i.status])).toEqual([
      [0, 'completed'],
      [1, 'failed'],
      [2, 'failed'],
      [3, 'completed'],
      [4, 'completed'],
    ]);
    expect(items[1]?.error).toContain('content_filter');
    expect(items[2]?.error).toBe('does not fit the template');
    expect(items[0]?.usage).toEqual({ inputTokens: 10, outputTokens: 5, modelCalls: 1 });
    // The item runs are top-level runs of the batch's agent, with its initiator.
    expect(h.fakes.inputsOf(Activities.prepareRun, runIds[0])[0]?.run).toMatchObject({ depth: 0, initiator: { kind: 'schedule', id: 'nightly' }, input: { inline: 'a' } });
  });

  it('writes an empty summary when no item can run', async () => {
    const input = batchInput(3);
    h.fakes.prepareBatch = () => ({ agent: testAgent('summarizer'), subAgents: {}, items: [] });
    const record = await h.finished(h.start(Orchestrators.batchRun, input, input.batchId));
    expect(outputOf<BatchRunOutput>(record)).toMatchObject({ total: 0, completed: 0, failed: 0 });
    expect(h.fakes.inputsOf(Activities.writeBatchSummary)[0]?.items).toEqual([]);
  });
});

const conversation: ConversationRef = {
  serviceUrl: 'https://smba.example/teams/',
  conversationId: 'conv-1',
  replyToId: 'msg-1',
  channelId: 'msteams',
  bot: { id: 'bot-1' },
  user: { id: 'user-1', name: 'Ada' },
};

describe('botConversationRun', () => {
  it('shows typing, runs the agent under the run id chosen at the door, and posts the answer', async () => {
    const run = runInputFor(testAgent('helpdesk'), 'My laptop is slow');
    h.fakes.model(run.runId, [{ answer: 'Restart it.' }]);
    const input: BotConversationInput = { conversation, run };
    const record = await h.finished(h.start(Orchestrators.botConversationRun, input, `bot-${run.runId}`));
    expect(record.status, record.output ?? '').toBe('Completed');
    expect(outputOf<BotConversationOutput>(record)).toEqual({ runId: run.runId, status: 'completed', delivered: true });
    expect(h.fakes.inputsOf(Activities.botSendTyping)).toEqual([{ tenantId: 'contoso', conversation }]);
    expect(h.fakes.inputsOf(Activities.botPostReply, run.runId)).toEqual([{ tenantId: 'contoso', runId: run.runId, conversation, answer: 'Restart it.' }]);
    expect(h.engine.getInstance(run.runId)?.status).toBe('Completed');
  });

  it('a run refused at the door (budget spent) only posts the refusal: no typing, no agent run', async () => {
    const run = runInputFor(testAgent('helpdesk'), 'Hello');
    const input: BotConversationInput = { conversation, run, refusal: { code: 'budget_exhausted', message: 'Budget spent until 2027-01-01.' } };
    const record = await h.finished(h.start(Orchestrators.botConversationRun, input, `bot-${run.runId}`));
    expect(record.status, record.output ?? '').toBe('Completed');
    expect(outputOf<BotConversationOutput>(record)).toEqual({ runId: run.runId, status: 'budget_exhausted', delivered: true });
    expect(h.fakes.inputsOf(Activities.botSendTyping)).toEqual([]);
    expect(h.fakes.inputsOf(Activities.callModel, run.runId)).toEqual([]);
    expect(h.fakes.inputsOf(Activities.botPostReply, run.runId)).toEqual([{ tenantId: 'contoso', runId: run.runId, conversation, notice: 'Budget spent until 2027-01-01.' }]);
    expect(h.engine.getInstance(run.runId)).toBeUndefined();
  });

  it('still answers when the typing indicator fails', async () => {
    const run = runInputFor(testAgent('helpdesk'), 'Hello');
    h.fakes.model(run.runId, [{ answer: 'Hi.' }]);
    h.fakes.botSendTyping = () => {
      throw new Error('typing failed');
    };
    const record = await h.finished(h.start(Orchestrators.botConversationRun, { conversation, run }, `bot-${run.runId}`));
    expect(outputOf<BotConversationOutput>(record)).toMatchObject({ status: 'completed', delivered: true });
    expect(h.fakes.inputsOf(Activities.botPostReply, run.runId)[0]?.answer).toBe('Hi.');
  });

  it('posts an apology when the run fails', async () => {
    const run = runInputFor(testAgent('helpdesk'), 'Something filtered');
    h.fakes.model(run.runId, [{ failure: { code: 'content_filter', message: 'filtered' } }]);
    const record = await h.finished(h.start(Orchestrators.botConversationRun, { conversation, run }, `bot-${run.runId}`));
    expect(record.status).toBe('Completed');
    expect(outputOf<BotConversationOutput>(record)).toEqual({ runId: run.runId, status: 'failed', delivered: true });
    const [reply] = h.fakes.inputsOf(Activities.botPostReply, run.runId);
    expect(reply?.answer).toBeUndefined();
    expect(reply?.failure).toContain('content_filter');
  });
  // Not here: the reply post's retry (botConversationRun's fixed retryPolicy(1_000, 5)) would wait a
  // real second; it needs the engine's injected clock (issue 12, durable room).
});

describe('queuedAgentRun', () => {
  const target = { queue: 'agent-replies', requestMessageId: 'msg-42', maxAttempts: 3, retryIntervalMs: 10 };

  it('runs the agent as the run id and publishes the reply', async () => {
    const run = runInputFor(testAgent('worker'), 'Do the thing');
    h.fakes.model(run.runId, [{ answer: 'Done.' }]);
    const input: QueuedAgentRunInput = { run, reply: target };
    const record = await h.finished(h.start(Orchestrators.queuedAgentRun, input, replyInstanceIdFor(run.runId)));
    expect(record.status, record.output ?? '').toBe('Completed');
    const reply = outputOf<RunReply>(record);
    expect(reply).toMatchObject({ runId: run.runId, tenantId: 'contoso', agent: 'worker', correlationId: 'corr-1', requestMessageId: 'msg-42', outcome: 'completed' });
    expect((reply.output as AgentRunOutput).answer).toBe('Done.');
    expect(h.fakes.inputsOf(Activities.publishRunReply)).toEqual([{ queue: 'agent-replies', reply }]);
    expect(h.engine.getInstance(run.runId)?.name).toBe(Orchestrators.agentRun.name);
  });

  it('publishes a failed outcome when the run fails', async () => {
    const run = runInputFor(testAgent('worker'), 'Fail');
    h.fakes.model(run.runId, [{ failure: { code: 'auth', message: 'no access to the deployment' } }]);
    const record = await h.finished(h.start(Orchestrators.queuedAgentRun, { run, reply: target }, replyInstanceIdFor(run.runId)));
    expect(record.status).toBe('Completed');
    const reply = outputOf<RunReply>(record);
    expect(reply).toMatchObject({ outcome: 'failed', error: { message: expect.stringContaining('no access to the deployment') } });
    expect(reply.output).toBeUndefined();
    expect(h.fakes.inputsOf(Activities.publishRunReply)).toEqual([{ queue: 'agent-replies', reply }]);
  });

  it('retries publishing with the policy in its input', async () => {
    const run = runInputFor(testAgent('worker'), 'Hello');
    h.fakes.model(run.runId, [{ answer: 'Hi.' }]);
    let publishes = 0;
    h.fakes.publishRunReply = () => {
      publishes += 1;
      if (publishes < 3) throw new Error('service bus busy');
      return { published: true };
    };
    const record = await h.finished(h.start(Orchestrators.queuedAgentRun, { run, reply: target }, replyInstanceIdFor(run.runId)));
    expect(record.status).toBe('Completed');
    expect(publishes).toBe(3);
  });
});
