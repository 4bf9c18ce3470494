import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolMessageProblem } from '../../devhost/local-services/offline-model/deterministic-model.js';
import { startOfflineModel, type OfflineModel } from '../../devhost/local-services/offline-model/server.js';

/**
 * The offline model must be no kinder than Azure OpenAI where the agent loop depends on it:
 * new tool-call ids on every answer, and a 400 for tool messages that answer no call.
 */

let fresh: OfflineModel;
let stable: OfflineModel;

beforeAll(async () => {
  fresh = await startOfflineModel();
  stable = await startOfflineModel({ toolCallIds: 'stable' });
});

afterAll(async () => {
  await fresh?.stop();
  await stable?.stop();
});

interface Completion {
  choices?: { message: { tool_calls?: { id: string }[] } }[];
  error?: { message: string };
}

const tools = [{ type: 'function', function: { name: 'current_time', description: 'The current time', parameters: { type: 'object', properties: {} } } }];

async function chat(model: OfflineModel, messages: unknown[]): Promise<{ status: number; body: Completion }> {
  const res = await fetch(`${model.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages, tools }),
  });
  return { status: res.status, body: (await res.json()) as Completion };
}

const ask = [{ role: 'user', content: 'What is the current time?' }];
const idsOf = (body: Completion): string[] => (body.choices?.[0]?.message.tool_calls ?? []).map((c) => c.id);

describe('offline model tool-call ids', () => {
  it('are new on every answer by default, even for the same request', async () => {
    const a = await chat(fresh, ask);
    const b = await chat(fresh, ask);
    expect(a.status).toBe(200);
    expect(idsOf(a.body)).toHaveLength(1);
    expect(idsOf(a.body)).not.toEqual(idsOf(b.body));
  });

  it('repeat for the same request in stable mode', async () => {
    expect(idsOf((await chat(stable, ask)).body)).toEqual(idsOf((await chat(stable, ask)).body));
  });

  it('are fresh for scripted tool calls that name no id', async () => {
    fresh.script([
      { type: 'tool_calls', toolCalls: [{ name: 'current_time', arguments: {} }] },
      { type: 'tool_calls', toolCalls: [{ name: 'current_time', arguments: {} }] },
    ]);
    const a = idsOf((await chat(fresh, ask)).body);
    const b = idsOf((await chat(fresh, ask)).body);
    fresh.reset();
    expect(a).not.toEqual(b);
  });
});

describe('offline model tool messages', () => {
  const call = (id: string) => ({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'current_time', arguments: '{}' } }] });

  it('answers 400 for a tool message that responds to no preceding call (as Azure OpenAI)', async () => {
    const res = await chat(fresh, [...ask, call('call_shown'), { role: 'tool', tool_call_id: 'call_other', content: '{}' }]);
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toContain("messages with role 'tool' must be a response to a preceding message with 'tool_calls'");
  });

  it('answers 400 when a call was not answered', async () => {
    const res = await chat(fresh, [...ask, call('call_open'), { role: 'user', content: 'and?' }]);
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toContain('call_open');
  });

  it('accepts tool messages that answer the calls before them', async () => {
    const res = await chat(fresh, [...ask, call('call_ok'), { role: 'tool', tool_call_id: 'call_ok', content: '{"utc":"now"}' }]);
    expect(res.status).toBe(200);
  });

  it('checks the rule in one place (pure)', () => {
    const assistant = (ids: string[]) => ({ role: 'assistant' as const, content: '', toolCalls: ids.map((id) => ({ id, name: 't', arguments: '{}' })) });
    const tool = (id: string) => ({ role: 'tool' as const, content: '', toolCallId: id });
    const user = { role: 'user' as const, content: 'hi' };
    expect(toolMessageProblem([user, assistant(['a', 'b']), tool('b'), tool('a'), user])).toBeUndefined();
    expect(toolMessageProblem([user, tool('a')])).toMatch(/must be a response/);
    expect(toolMessageProblem([user, assistant(['a']), tool('a'), tool('a2')])).toMatch(/a2/);
    expect(toolMessageProblem([user, assistant(['a', 'b']), tool('a'), user])).toMatch(/did not have response messages: b/);
  });
});
