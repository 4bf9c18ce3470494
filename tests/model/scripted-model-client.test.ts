import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../shared/model/model-client.js';
import { createScriptedModelClient, errorTurn, textTurn, toolCallsTurn } from '../../shared/model/scripted-model-client.js';

const request = (content: string): ChatRequest => ({ deployment: 'd1', messages: [{ role: 'user', content }] });

describe('scripted model client', () => {
  it('plays turns in order, records copies of the requests, and fails loudly when exhausted', async () => {
    const model = createScriptedModelClient([
      toolCallsTurn([
        { name: 'current_time', arguments: {} },
        { name: 'bad', arguments: '{oops' },
      ]),
    ]);
    model.push(textTurn('done'));
    const sent = request('what time is it');
    const first = await model.complete(sent, { timeoutMs: 100 });
    sent.messages.push({ role: 'user', content: 'mutated later' });
    expect(first.message.toolCalls).toEqual([
      { id: 'call_1', name: 'current_time', arguments: '{}' },
      { id: 'call_2', name: 'bad', arguments: '{oops' },
    ]);
    expect(first.finishReason).toBe('tool_calls');
    expect((await model.complete(request('thanks'), { timeoutMs: 100 })).message.content).toBe('done');
    expect(model.remaining()).toBe(0);
    expect(model.calls.map((c) => [c.call, c.request.messages.length, c.timeoutMs])).toEqual([
      [1, 1, 100],
      [2, 1, 100],
    ]);
    await expect(model.complete(request('again?'), { timeoutMs: 100 })).rejects.toThrow('scripted model ran out of turns at call 3 (deployment d1, last user message "again?")');
  });

  it('throws scripted errors with the request deployment, and keeps the turn when aborted first', async () => {
    const model = createScriptedModelClient([errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 10 })]);
    await expect(model.complete(request('x'), { timeoutMs: 1, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    expect(model.remaining()).toBe(1);
    await expect(model.complete(request('x'), { timeoutMs: 1 })).rejects.toMatchObject({
      name: 'ModelCallError',
      code: 'rate_limited',
      deployment: 'd1',
      retryAfterMs: 10,
      message: 'rate_limited: scripted rate_limited',
    });
  });
});
