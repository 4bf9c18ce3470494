import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRunOutput } from '../../shared/agent-runtime/run-types.js';
import { DurableApi, runInput, startAgentStack, testAgent, type AgentStack } from '../helpers/agent-stack.js';

/**
 * Agent runs end to end: the real app on the devhost (real Durable replay), Azurite for the
 * conversation, and the offline model in scripted mode. Tools reach a loopback server.
 */

let stack: AgentStack;
let api: DurableApi;
let upstream: Server;
let upstreamUrl = '';
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok');

beforeAll(async () => {
  stack = await startAgentStack();
  api = new DurableApi(stack.devhost);
  upstream = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  upstream?.closeAllConnections();
  upstream?.close();
  await stack?.stop();
});

beforeEach(() => {
  stack.model.reset();
  handler = (_req, res) => res.end('ok');
});

/** The `tool` messages the model saw in request `n` (0-based), by tool call id. */
function toolMessages(n: number): Record<string, string> {
  const body = stack.model.requests()[n]?.body as { messages: { role: string; tool_call_id?: string; content?: string }[] };
  return Object.fromEntries(body.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id ?? '', m.content ?? '']));
}

const output = (s: { output: unknown }) => s.output as AgentRunOutput;

describe('agentRun through the devhost', () => {
  it('answers in one turn', async () => {
    stack.model.script([{ type: 'text', content: 'Hello there.', usage: { promptTokens: 10, completionTokens: 3 } }]);
    const id = await api.start(runInput(testAgent(), 'Say hello'));
    const done = await api.done(id);
    expect(done.runtimeStatus).toBe('Completed');
    expect(output(done)).toEqual({ status: 'completed', answer: 'Hello there.', turns: 1, toolCalls: 0, usage: { inputTokens: 10, outputTokens: 3, modelCalls: 1 } });
  });

  it('runs three tool calls in parallel, then answers on the second turn', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const waiting: ServerResponse[] = [];
    handler = (_req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      waiting.push(res);
      const release = () => {
        for (const r of waiting.splice(0)) {
          inFlight -= 1;
          r.end('part');
        }
      };
      // Hold answers until all three calls are in flight (or give up after a second).
      if (waiting.length === 3) release();
      else setTimeout(release, 1_000);
    };
    stack.model.script([
      { type: 'tool_calls', toolCalls: [1, 2, 3].map((i) => ({ id: `p${i}`, name: 'http_request', arguments: { url: `${upstreamUrl}/part/${i}` } })) },
      { type: 'text', content: 'All three parts fetched.' },
    ]);
    const id = await api.start(runInput(testAgent(), 'Fetch three parts'));
    const done = await api.done(id);
    expect(output(done)).toMatchObject({ status: 'completed', turns: 2, toolCalls: 3 });
    expect(maxInFlight).toBe(3);
    // The three calls share one deadline, so one durable timeout timer covers them.
    const history = (await api.status(id, true)).history ?? [];
    expect(history.filter((e) => e['EventType'] === 'TaskCompleted' && e['FunctionName'] === 'agentRunTool')).toHaveLength(3);
    expect(history.filter((e) => e['EventType'] === 'TimerCreated')).toHaveLength(1);
    const seen = toolMessages(1);
    expect(Object.keys(seen).sort()).toEqual(['p1', 'p2', 'p3']);
    expect(JSON.parse(seen['p1'] ?? '{}')).toMatchObject({ status: 200, body: 'part' });
  });

  it('retries a tool that fails twice, then succeeds', async () => {
    let hits = 0;
    handler = (_req, res) => {
      hits += 1;
      res.statusCode = hits <= 2 ? 503 : 200;
      res.end(hits <= 2 ? 'busy' : 'finally');
    };
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 'r1', name: 'http_request', arguments: { url: `${upstreamUrl}/flaky` } }] },
      { type: 'text', content: 'Got it.' },
    ]);
    const done = await api.done(await api.start(runInput(testAgent(), 'Fetch the flaky thing')));
    expect(output(done).status).toBe('completed');
    expect(hits).toBe(3);
    expect(JSON.parse(toolMessages(1)['r1'] ?? '{}')).toMatchObject({ status: 200, body: 'finally' });
  });

  it('keeps a slower sibling running (once) while a failed call is retried', async () => {
    const hits: Record<string, number> = {};
    handler = (req, res) => {
      const path = req.url ?? '';
      hits[path] = (hits[path] ?? 0) + 1;
      if (path === '/flaky') {
        res.statusCode = hits[path] === 1 ? 503 : 200;
        res.end(hits[path] === 1 ? 'busy' : 'second time lucky');
      } else {
        setTimeout(() => res.end('slow but sure'), 150).unref();
      }
    };
    stack.model.script([
      {
        type: 'tool_calls',
        toolCalls: [
          { id: 'f1', name: 'http_request', arguments: { url: `${upstreamUrl}/flaky` } },
          { id: 's1', name: 'http_request', arguments: { url: `${upstreamUrl}/slow` } },
        ],
      },
      { type: 'text', content: 'Both done.' },
    ]);
    const done = await api.done(await api.start(runInput(testAgent(), 'Fetch both')));
    expect(output(done)).toMatchObject({ status: 'completed', turns: 2, toolCalls: 2 });
    expect(hits).toEqual({ '/flaky': 2, '/slow': 1 });
    const seen = toolMessages(1);
    expect(JSON.parse(seen['f1'] ?? '{}')).toMatchObject({ status: 200, body: 'second time lucky' });
    expect(JSON.parse(seen['s1'] ?? '{}')).toMatchObject({ status: 200, body: 'slow but sure' });
  });

  it('times a slow tool out with a durable timer, tells the model, and stops the call', async () => {
    let abandoned = false;
    handler = (req, res) => {
      const answer = setTimeout(() => res.end('too late'), 3_000);
      answer.unref();
      req.on('close', () => {
        if (!res.writableEnded) abandoned = true;
        clearTimeout(answer);
      });
    };
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 't1', name: 'http_request', arguments: { url: `${upstreamUrl}/slow` } }] },
      { type: 'text', content: 'It timed out.' },
    ]);
    // The agent-wide tool limit is long; only the tool's own 200 ms applies.
    const agent = testAgent({ tools: [{ tool: 'http_request', timeoutMs: 200, maxAttempts: 1 }], limits: { toolTimeoutMs: 60_000 } });
    const done = await api.done(await api.start(runInput(agent, 'Fetch slowly')));
    expect(output(done).status).toBe('completed');
    expect(JSON.parse(toolMessages(1)['t1'] ?? '{}')).toMatchObject({ error: 'timeout' });
    // The instance completes only once the abandoned activity ends (as in Durable Functions);
    // the activity aborted the request at the tool's own timeout rather than waiting it out.
    expect(abandoned).toBe(true);
  });

  it('feeds invalid tool arguments and unknown tools back to the model', async () => {
    stack.model.script([
      {
        type: 'tool_calls',
        toolCalls: [
          { id: 'bad', name: 'http_request', arguments: '{"url": 5' },
          { id: 'typed', name: 'http_request', arguments: { url: 42 } },
          { id: 'ghost', name: 'no_such_tool', arguments: {} },
        ],
      },
      { type: 'text', content: 'Sorry about that.' },
    ]);
    const done = await api.done(await api.start(runInput(testAgent(), 'Break things')));
    expect(output(done).status).toBe('completed');
    const seen = toolMessages(1);
    expect(JSON.parse(seen['bad'] ?? '{}')).toMatchObject({ error: 'invalid_arguments' });
    expect(JSON.parse(seen['typed'] ?? '{}')).toMatchObject({ error: 'invalid_arguments' });
    expect(JSON.parse(seen['ghost'] ?? '{}')).toMatchObject({ error: 'unknown_tool' });
  });

  describe('approvals', () => {
    const approvalAgent = (approvalTimeoutMs = 60_000) =>
      testAgent({ tools: [{ tool: 'current_time', approval: 'required' }], limits: { approvalTimeoutMs, modelRetryIntervalMs: 20, toolRetryIntervalMs: 20 } });
    const script = () =>
      stack.model.script([
        { type: 'tool_calls', toolCalls: [{ id: 'a1', name: 'current_time', arguments: {} }] },
        { type: 'text', content: 'Done.' },
      ]);

    it('waits in AwaitingApproval, then runs the tool when approved', async () => {
      script();
      const id = await api.start(runInput(approvalAgent(), 'What time is it?'));
      const waiting = await api.waitFor(id, (s) => (s.customStatus as { phase?: string } | null)?.phase === 'awaiting_approval');
      expect(waiting.customStatus).toMatchObject({ awaitingApproval: [{ toolCallId: 'a1', tool: 'current_time' }] });
      await api.raise(id, 'approval', { toolCallId: 'a1', approved: true, decidedBy: 'tests' });
      const done = await api.done(id);
      expect(output(done).status).toBe('completed');
      expect(JSON.parse(toolMessages(1)['a1'] ?? '{}')).toHaveProperty('utc');
    });

    it('tells the model the call was denied when rejected', async () => {
      script();
      const id = await api.start(runInput(approvalAgent(), 'What time is it?'));
      await api.waitFor(id, (s) => (s.customStatus as { phase?: string } | null)?.phase === 'awaiting_approval');
      await api.raise(id, 'approval', { toolCallId: 'a1', approved: false });
      await api.done(id);
      expect(JSON.parse(toolMessages(1)['a1'] ?? '{}')).toMatchObject({ error: 'denied' });
    });

    it('tells the model nobody decided when the approval deadline passes (not a denial), and records it', async () => {
      script();
      const id = await api.start(runInput(approvalAgent(150), 'What time is it?'));
      const done = await api.done(id);
      expect(output(done).status).toBe('completed');
      expect(JSON.parse(toolMessages(1)['a1'] ?? '{}')).toMatchObject({ error: 'approval_timeout' });
      expect(toolMessages(1)['a1']).not.toContain('did not approve');
      expect(done.customStatus).toMatchObject({ approvals: [{ toolCallId: 'a1', tool: 'current_time', outcome: 'timed_out' }] });
      const withHistory = await api.status(id, true);
      const recorded = (withHistory.history ?? [])
        .filter((e) => e.EventType === 'TaskCompleted' && e['FunctionName'] === 'agentRecordRunEvent')
        .map((e) => JSON.parse(String(e['Input'])) as { type: string });
      expect(recorded.map((r) => r.type)).toContain('approval.timed_out');
      expect(recorded.map((r) => r.type)).not.toContain('approval.decided');
    });
  });

  it('runs a sub-agent as a sub-orchestration and rolls its usage up', async () => {
    const helper = testAgent({ id: 'helper', tools: [] });
    const parent = testAgent({ tools: [{ agent: 'helper', description: 'Ask the helper' }] });
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 's1', name: 'helper', arguments: { task: 'Summarise X' } }], usage: { promptTokens: 5, completionTokens: 5 } },
      { type: 'text', content: 'X in short.', usage: { promptTokens: 7, completionTokens: 2 } },
      { type: 'text', content: 'The helper says: X in short.', usage: { promptTokens: 11, completionTokens: 4 } },
    ]);
    const done = await api.done(await api.start(runInput(parent, 'Use the helper', { subAgents: { helper } })));
    expect(output(done)).toMatchObject({ status: 'completed', answer: 'The helper says: X in short.', usage: { inputTokens: 23, outputTokens: 11, modelCalls: 3 } });
    const childRequest = stack.model.requests()[1]?.body as { messages: { role: string; content: string }[] };
    expect(childRequest.messages.find((m) => m.role === 'user')?.content).toBe('Summarise X');
    expect(JSON.parse(toolMessages(2)['s1'] ?? '{}')).toMatchObject({ status: 'completed', answer: 'X in short.' });
  });

  it('reports a failed sub-agent to the model and keeps its sibling tool result', async () => {
    handler = (_req, res) => {
      setTimeout(() => res.end('sibling answer'), 150).unref();
    };
    stack.model.setFaults([{ status: 500, deployment: 'child-dead' }]);
    const helper = testAgent({ id: 'helper', tools: [], model: { deployments: ['child-dead'], timeoutMs: 5_000 }, limits: { modelMaxAttempts: 1, modelOutageToleranceMs: 0 } });
    const parent = testAgent({ tools: [{ tool: 'http_request' }, { agent: 'helper', description: 'Ask the helper' }] });
    stack.model.script([
      {
        type: 'tool_calls',
        toolCalls: [
          { id: 'h1', name: 'helper', arguments: { task: 'Break' } },
          { id: 'w1', name: 'http_request', arguments: { url: `${upstreamUrl}/sibling` } },
        ],
      },
      { type: 'text', content: 'The helper failed; the fetch worked.' },
    ]);
    const done = await api.done(await api.start(runInput(parent, 'Use both', { subAgents: { helper } })));
    expect(output(done)).toMatchObject({ status: 'completed', answer: 'The helper failed; the fetch worked.' });
    const last = stack.model.requests().at(-1)?.body as { messages: { role: string; tool_call_id?: string; content?: string }[] };
    const tools = Object.fromEntries(last.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id ?? '', m.content ?? '']));
    expect(JSON.parse(tools['h1'] ?? '{}')).toMatchObject({ error: 'sub_agent_failed' });
    expect(JSON.parse(tools['w1'] ?? '{}')).toMatchObject({ status: 200, body: 'sibling answer' });
  });

  it('stops when cancelled', async () => {
    handler = (_req, res) => {
      setTimeout(() => res.end('late'), 1_500).unref();
    };
    stack.model.script([{ type: 'tool_calls', toolCalls: [{ id: 'c1', name: 'http_request', arguments: { url: `${upstreamUrl}/slow` } }] }]);
    const id = await api.start(runInput(testAgent({ limits: { toolTimeoutMs: 30_000 } }), 'Take your time'));
    await api.waitFor(id, (s) => (s.customStatus as { phase?: string } | null)?.phase === 'tools');
    await api.raise(id, 'cancel', {});
    const done = await api.done(id);
    expect(output(done)).toMatchObject({ status: 'canceled', turns: 1 });
  });

  it('stops at maxTurns', async () => {
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 'm1', name: 'current_time', arguments: {} }] },
      { type: 'tool_calls', toolCalls: [{ id: 'm2', name: 'current_time', arguments: {} }] },
    ]);
    const agent = testAgent({ limits: { maxTurns: 2, modelRetryIntervalMs: 20, toolRetryIntervalMs: 20 } });
    const done = await api.done(await api.start(runInput(agent, 'Loop forever')));
    expect(output(done)).toMatchObject({ status: 'max_turns', turns: 2, toolCalls: 2, answer: null });
  });

  it('keeps a 50-turn run with large tool outputs within the payload bound', async () => {
    const container = BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient('agent-data');
    await container.createIfNotExists();
    const doc = 'Lorem ipsum dolor sit amet. '.repeat(750); // ~21 KB: over the 16 KB inline bound
    await container.getBlockBlobClient('tenants/contoso/documents/big.md').upload(doc, doc.length);
    const turns = Array.from({ length: 50 }, (_v, i) => ({
      type: 'tool_calls' as const,
      toolCalls: [{ id: `big${i}`, name: 'read_document', arguments: { name: 'big.md' } }],
    }));
    stack.model.script([...turns, { type: 'text', content: 'Read it fifty times.' }]);
    const agent = testAgent({
      tools: [{ tool: 'read_document' }],
      limits: { maxTurns: 60, continueAsNewEveryTurns: 10, maxTotalTokens: 100_000_000, modelRetryIntervalMs: 20, toolRetryIntervalMs: 20 },
    });
    const id = await api.start(runInput(agent, 'Read the big document 50 times'));
    const done = await api.done(id, 120_000);
    expect(output(done)).toMatchObject({ status: 'completed', turns: 51, toolCalls: 50 });
    const withHistory = await api.status(id, true);
    const sizes = (withHistory.history ?? []).map((e) => Buffer.byteLength(JSON.stringify(e)));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThan(64 * 1024);
    // The model did see the whole document each time (read from Blob by the activity).
    const last = stack.model.requests().at(-1)?.body as { messages: { role: string; content: string }[] };
    expect(last.messages.filter((m) => m.role === 'tool').every((m) => m.content.length > 20_000)).toBe(true);
  }, 150_000);

  it('falls back to the second deployment after a 429', async () => {
    stack.model.script([
      { type: 'error', status: 429, retryAfterMs: 60_000, deployment: 'fb-primary' },
      { type: 'text', content: 'From the secondary.', deployment: 'fb-secondary' },
    ]);
    const agent = testAgent({ model: { deployments: ['fb-primary', 'fb-secondary'], timeoutMs: 5_000 } });
    const done = await api.done(await api.start(runInput(agent, 'Hi')));
    expect(output(done)).toMatchObject({ status: 'completed', answer: 'From the secondary.' });
    expect(stack.model.requests().map((r) => `${r.deployment}:${r.status}`)).toEqual(['fb-primary:429', 'fb-secondary:200']);
  });

  it('waits out a model outage on durable timers, then fails with model_unavailable after the outage tolerance', async () => {
    stack.model.setFaults([
      { status: 500, deployment: 'dead-1' },
      { status: 500, deployment: 'dead-2' },
    ]);
    const agent = testAgent({
      model: { deployments: ['dead-1', 'dead-2'], timeoutMs: 5_000 },
      limits: { modelMaxAttempts: 2, modelRetryIntervalMs: 20, modelOutageToleranceMs: 300 },
    });
    const id = await api.start(runInput(agent, 'Hi'));
    const done = await api.done(id);
    expect(done.runtimeStatus).toBe('Failed');
    expect(JSON.stringify(done.output)).toContain('model_unavailable');
    expect(JSON.stringify(done.output)).toContain('all_deployments_failed');
    // Several model steps, each separated by a durable timer; the activity itself never failed.
    const history = (await api.status(id, true)).history ?? [];
    const steps = history.filter((e) => e.EventType === 'TaskCompleted' && e['FunctionName'] === 'agentCallModel').length;
    expect(steps).toBeGreaterThan(1);
    expect(history.filter((e) => e.EventType === 'TaskFailed')).toEqual([]);
    expect(history.filter((e) => e.EventType === 'TimerFired').length).toBeGreaterThanOrEqual(steps - 1);
  });
});
