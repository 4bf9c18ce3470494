import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOfflineModel, type OfflineModel } from '../../devhost/local-services/offline-model/server.js';
import type { ChatRequest, ChatTool } from '../../shared/model/model-client.js';
import { createModelGateway, systemClock } from '../../shared/model/model-gateway.js';
import { createOpenAIModelClient, parseRetryAfterMs } from '../../shared/model/openai-model-client.js';
import { rejection } from '../helpers/rejection.js';

const tools: ChatTool[] = [
  {
    name: 'search_knowledge_base',
    description: 'Searches knowledge base articles for a query.',
    parameters: { type: 'object', properties: { query: { type: 'string' }, top: { type: 'integer', minimum: 1, maximum: 10 } }, required: ['query', 'top'] },
  },
  { name: 'current_time', description: 'Returns the current time in UTC.', parameters: { type: 'object', properties: {} } },
];

const ask = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  deployment: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You help customers.' },
    { role: 'user', content },
  ],
  ...extra,
});

describe('openai model client against the offline model', () => {
  let offline: OfflineModel;
  let client: ReturnType<typeof createOpenAIModelClient>;
  beforeAll(async () => {
    offline = await startOfflineModel({ port: 0, toolCallIds: 'stable' });
    client = createOpenAIModelClient({ kind: 'openai-compatible', baseUrl: offline.url });
  });
  afterAll(async () => {
    await offline?.stop();
  });
  beforeEach(() => offline.reset());

  it('serves on loopback with a /v1 base URL', () => {
    expect(offline.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  });

  it('chooses a matching tool deterministically, then answers from the tool result', async () => {
    const question = 'Search the knowledge base for our refund policy';
    const first = await client.complete(ask(question, { tools, temperature: 0, maxOutputTokens: 200 }), { timeoutMs: 5_000 });
    expect(first.finishReason).toBe('tool_calls');
    expect(first.message.content).toBeNull();
    expect(first.message.toolCalls).toHaveLength(1);
    const call = first.message.toolCalls[0];
    expect(call?.name).toBe('search_knowledge_base');
    expect(JSON.parse(call?.arguments ?? '')).toEqual({ query: question, top: 1 });
    expect(first.model).toBe('offline-model');
    expect(first.usage.inputTokens).toBeGreaterThan(0);
    expect(first.usage.outputTokens).toBeGreaterThan(0);

    const [sent] = offline.requests();
    expect(sent).toMatchObject({ api: 'openai', deployment: 'gpt-4o-mini', source: 'deterministic', status: 200 });
    expect(sent?.body).toMatchObject({
      model: 'gpt-4o-mini',
      temperature: 0,
      max_completion_tokens: 200,
      tools: [
        { type: 'function', function: { name: 'search_knowledge_base' } },
        { type: 'function', function: { name: 'current_time' } },
      ],
    });

    const second = await client.complete(
      {
        ...ask(question, { tools }),
        messages: [
          ...ask(question).messages,
          { role: 'assistant', content: null, toolCalls: first.message.toolCalls },
          { role: 'tool', toolCallId: call?.id ?? '', content: 'Refunds within 30 days of purchase.' },
        ],
      },
      { timeoutMs: 5_000 },
    );
    expect(second.finishReason).toBe('stop');
    expect(second.message.toolCalls).toEqual([]);
    expect(second.message.content).toBe(`Summary of 1 tool result for "${question}":\n- search_knowledge_base: Refunds within 30 days of purchase.`);
    // The assistant tool call and the tool result went over the wire in the OpenAI shape.
    expect(offline.requests()[1]?.body).toMatchObject({
      messages: [
        { role: 'system' },
        { role: 'user' },
        { role: 'assistant', content: null, tool_calls: [{ id: call?.id, type: 'function', function: { name: 'search_knowledge_base' } }] },
        { role: 'tool', tool_call_id: call?.id, content: 'Refunds within 30 days of purchase.' },
      ],
    });
  });

  it('answers directly when no tools are offered', async () => {
    const response = await client.complete(ask('Say hello'), { timeoutMs: 5_000 });
    expect(response).toMatchObject({ finishReason: 'stop', message: { toolCalls: [] } });
    expect(response.message.content).toContain('deterministic stand-in');
  });

  it('plays scripted responses in order, per deployment, and captures requests', async () => {
    offline.script([
      {
        type: 'tool_calls',
        toolCalls: [
          { id: 'call_a', name: 'current_time', arguments: {} },
          { name: 'lookup', arguments: '{not json' },
        ],
      },
      { type: 'text', content: 'from the fallback', deployment: 'gpt-4o', model: 'gpt-4o-2024-08-06', usage: { promptTokens: 7, completionTokens: 2 } },
      { type: 'text', content: 'done', finishReason: 'length' },
    ]);
    const fallback = await client.complete(ask('hi', { deployment: 'gpt-4o' }), { timeoutMs: 5_000 });
    expect(fallback).toEqual({
      message: { content: 'from the fallback', toolCalls: [] },
      finishReason: 'stop',
      usage: { inputTokens: 7, outputTokens: 2 },
      model: 'gpt-4o-2024-08-06',
      id: expect.stringMatching(/^chatcmpl-/),
    });
    const tools1 = await client.complete(ask('hi'), { timeoutMs: 5_000 });
    expect(tools1.finishReason).toBe('tool_calls');
    expect(tools1.message.toolCalls).toEqual([
      { id: 'call_a', name: 'current_time', arguments: '{}' },
      { id: 'call_2_2', name: 'lookup', arguments: '{not json' },
    ]);
    const last = await client.complete(ask('hi'), { timeoutMs: 5_000 });
    expect(last).toMatchObject({ finishReason: 'length', message: { content: 'done' } });

    // Exhausted: a loud, non-retryable failure rather than an invented answer.
    const error = await rejection(client.complete(ask('one more'), { timeoutMs: 5_000 }));
    expect(error).toMatchObject({ name: 'ModelCallError', code: 'bad_request', retryable: false });
    expect((error as Error).message).toContain('offline model script ran out of turns at request 4');

    const overHttp = (await (await fetch(`${offline.origin}/_offline/requests`, { headers: { 'x-offline-model-key': offline.controlKey } })).json()) as Array<{
      deployment: string;
      source: string;
    }>;
    expect(overHttp.map((r) => [r.deployment, r.source])).toEqual([
      ['gpt-4o', 'script'],
      ['gpt-4o-mini', 'script'],
      ['gpt-4o-mini', 'script'],
      ['gpt-4o-mini', 'script'],
    ]);
  });

  it('refuses its control routes without the control key (401), and takes it as header or ?code=', async () => {
    for (const [method, path] of [
      ['GET', '/_offline/requests'],
      ['GET', '/_offline/stats'],
      ['POST', '/_offline/script'],
      ['POST', '/_offline/faults'],
      ['POST', '/_offline/reset'],
    ] as const) {
      const body = method === 'POST' ? JSON.stringify({ turns: [{ type: 'text', content: 'attacker' }], faults: [{ status: 500, count: 99 }] }) : undefined;
      const anonymous = await fetch(`${offline.origin}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body } : {}) });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      const wrong = await fetch(`${offline.origin}${path}`, { method, headers: { 'x-offline-model-key': 'guess' }, ...(body ? { body } : {}) });
      expect(wrong.status, `${method} ${path} with a wrong key`).toBe(401);
      await wrong.arrayBuffer();
    }
    // Nothing was scripted, faulted or reset: the model still answers deterministically.
    expect(offline.stats().scriptRemaining).toBe(0);
    expect((await client.complete(ask('Say hello'), { timeoutMs: 5_000 })).message.content).toContain('Offline model answer');
    expect((await fetch(`${offline.origin}/_offline/stats?code=${encodeURIComponent(offline.controlKey)}`)).status).toBe(200);
    offline.reset();
  });

  it('is driven over HTTP by another process: script, faults, stats, reset', async () => {
    const headers = { 'content-type': 'application/json', 'x-offline-model-key': offline.controlKey };
    const post = (path: string, body?: unknown) => fetch(`${offline.origin}${path}`, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });

    expect((await post('/_offline/script', { turns: [{ type: 'text', content: 'scripted over http' }] })).status).toBe(200);
    expect((await post('/_offline/faults', { faults: [{ status: 500, count: 1 }] })).status).toBe(200);
    const invalid = await post('/_offline/faults', { faults: [{ count: 1 }] });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toContain('a fault needs a status or a latencyMs');
    expect((await fetch(`${offline.origin}/_offline/script`, { headers })).status).toBe(405);

    await expect(client.complete(ask('x'), { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'server_error', endpointStatus: 500 });
    expect((await client.complete(ask('x'), { timeoutMs: 5_000 })).message.content).toBe('scripted over http');
    expect(await (await fetch(`${offline.origin}/_offline/stats`, { headers })).json()).toEqual({ inFlight: 0, maxInFlight: 1, requestCount: 2, scriptRemaining: 0 });

    expect((await post('/_offline/reset')).status).toBe(200);
    expect(offline.requests()).toEqual([]);
    expect((await client.complete(ask('Say hello'), { timeoutMs: 5_000 })).message.content).toContain('Offline model answer');
  });

  it('maps a 429 with Retry-After to rate_limited with retryAfterMs, for the faulted deployment only', async () => {
    offline.setFaults([{ status: 429, retryAfterMs: 1_500, deployment: 'gpt-4o-mini', count: 1 }]);
    await expect(client.complete(ask('hi', { deployment: 'gpt-4o' }), { timeoutMs: 5_000 })).resolves.toBeDefined();
    const error = await rejection(client.complete(ask('hi'), { timeoutMs: 5_000 }));
    expect(error).toMatchObject({
      name: 'ModelCallError',
      code: 'rate_limited',
      status: 429,
      endpointStatus: 429,
      retryable: true,
      retryAfterMs: 1_500,
      deployment: 'gpt-4o-mini',
    });
    // count: 1 — the next call is served normally.
    await expect(client.complete(ask('hi'), { timeoutMs: 5_000 })).resolves.toBeDefined();
  });

  it('maps a 500 to a retryable server_error, and a content-filter 400 to content_filter', async () => {
    offline.setFaults([{ status: 500, count: 1 }]);
    await expect(client.complete(ask('hi'), { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'server_error', endpointStatus: 500, retryable: true });

    offline.script([{ type: 'error', status: 400, code: 'content_filter', message: 'The prompt was filtered.' }]);
    await expect(client.complete(ask('hi'), { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'content_filter', retryable: false });
  });

  it('times out on added latency, and the server drops the abandoned request', async () => {
    offline.setFaults([{ latencyMs: 60_000 }]);
    const error = await rejection(client.complete(ask('hi'), { timeoutMs: 50 }));
    expect(error).toMatchObject({ name: 'ModelCallError', code: 'timeout', retryable: true });
    expect(offline.stats().maxInFlight).toBe(1);
    for (let i = 0; i < 50 && offline.stats().inFlight > 0; i += 1) await new Promise((r) => setTimeout(r, 5));
    expect(offline.stats().inFlight).toBe(0);
    expect(offline.requests()[0]?.status).toBeUndefined();
  });

  it('maps a caller abort to aborted', async () => {
    offline.setFaults([{ latencyMs: 60_000 }]);
    const controller = new AbortController();
    const pending = client.complete(ask('hi'), { timeoutMs: 5_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'aborted', retryable: false });
  });

  it('tracks the most requests in flight at once', async () => {
    offline.setFaults([{ latencyMs: 30 }]);
    await Promise.all([1, 2, 3].map(() => client.complete(ask('hi'), { timeoutMs: 5_000 })));
    expect(offline.stats()).toMatchObject({ inFlight: 0, maxInFlight: 3, requestCount: 3 });
  });

  it('serves the Azure OpenAI path with a bearer token from the token provider', async () => {
    const issued: string[] = [];
    const azure = createOpenAIModelClient({
      kind: 'azure',
      endpoint: `${offline.origin}/`,
      apiVersion: '2024-10-21',
      tokenProvider: async () => {
        issued.push('token');
        return 'dev-token';
      },
    });
    const response = await azure.complete(ask('What time is it?', { tools, deployment: 'gpt-4o-mini-eu' }), { timeoutMs: 5_000 });
    expect(response.message.toolCalls.map((c) => c.name)).toEqual(['current_time']);
    expect(issued).toHaveLength(1);
    expect(offline.requests()[0]).toMatchObject({ api: 'azure', deployment: 'gpt-4o-mini-eu', apiVersion: '2024-10-21', auth: 'bearer' });

    const failing = createOpenAIModelClient({
      kind: 'azure',
      endpoint: offline.origin,
      apiVersion: '2024-10-21',
      tokenProvider: () => Promise.reject(Object.assign(new Error('no managed identity endpoint'), { name: 'CredentialUnavailableError' })),
    });
    const error = await rejection(failing.complete(ask('hi'), { timeoutMs: 5_000 }));
    expect(error).toMatchObject({ code: 'auth_failed', retryable: false });
    expect((error as Error).message).toContain('no managed identity endpoint');
    expect(offline.requests()).toHaveLength(1);
  });

  it('reports an unreachable endpoint as a retryable server_error', async () => {
    const nowhere = await startOfflineModel();
    const url = nowhere.url;
    await nowhere.stop();
    const unreachable = createOpenAIModelClient({ kind: 'openai-compatible', baseUrl: url });
    await expect(unreachable.complete(ask('hi'), { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'server_error', retryable: true });
  });

  it('falls back to the second deployment through the gateway after a real 429', async () => {
    offline.setFaults([{ status: 429, deployment: 'gpt-4o-mini', retryAfterMs: 30_000 }]);
    const gateway = createModelGateway({
      clients: () => client,
      clock: systemClock,
      circuit: { failureThreshold: 5, cooldownMs: 30_000 },
      maxAttemptsPerDeployment: 2,
      retryAfterCapMs: 1_000,
    });
    const { response, usage } = await gateway.call({ messages: ask('Say hello').messages }, { deployments: [{ name: 'gpt-4o-mini' }, { name: 'gpt-4o' }], timeoutMs: 5_000 });
    expect(response.message.content).toContain('Offline model answer');
    expect(usage).toMatchObject({ deployment: 'gpt-4o', fallbackTaken: true, model: 'offline-model' });
    expect(usage.attempts.map((a) => [a.deployment, a.outcome, a.status, a.retryAfterMs])).toEqual([
      ['gpt-4o-mini', 'rate_limited', 429, 30_000],
      ['gpt-4o', 'ok', undefined, undefined],
    ]);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('prefers retry-after-ms, then Retry-After seconds or date', () => {
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '250.4', 'retry-after': '9' }), now)).toBe(251);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '2' }), now)).toBe(2_000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }), now)).toBe(3_000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(new Headers(), now)).toBeUndefined();
  });
});
