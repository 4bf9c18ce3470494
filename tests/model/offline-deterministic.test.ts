import { describe, expect, it } from 'vitest';
import { argumentsFromSchema, deterministicReply, pickTools, type OfflineMessage, type OfflineToolSpec } from '../../devhost/local-services/offline-model/deterministic-model.js';

const tools: OfflineToolSpec[] = [
  { name: 'current_time', description: 'Returns the current date and time in UTC.', parameters: { type: 'object', properties: {} } },
  {
    name: 'list_documents',
    description: "Lists documents in the tenant's document space under a prefix.",
    parameters: { type: 'object', properties: { prefix: { type: 'string' } } },
  },
  {
    name: 'read_document',
    description: 'Reads one document by path.',
    parameters: { type: 'object', properties: { path: { type: 'string', maxLength: 20 } }, required: ['path'] },
  },
  {
    name: 'classify_ticket',
    description: 'Classifies a support ticket by category and urgency.',
    parameters: {
      type: 'object',
      properties: {
        text: { type: 'string' },
        category: { type: 'string', enum: ['billing', 'bug', 'other'] },
        urgency: { anyOf: [{ type: 'null' }, { type: 'string', enum: ['low', 'high'] }] },
        limit: { type: 'integer', minimum: 5, maximum: 50 },
        score: { type: 'number' },
        strict: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
        meta: { type: 'object', properties: { source: { type: 'string', const: 'email' } }, required: ['source'] },
        optional: { type: 'string' },
      },
      required: ['text', 'category', 'urgency', 'limit', 'score', 'strict', 'tags', 'meta'],
    },
  },
];

describe('offline model: deterministic rules', () => {
  it('picks tools whose names, then descriptions, match the message words', () => {
    expect(pickTools('Please list the documents about refunds', tools).map((t) => t.name)).toEqual(['list_documents', 'read_document']);
    expect(pickTools('What time is it?', tools).map((t) => t.name)).toEqual(['current_time']);
    expect(pickTools('Classify this ticket: I was charged twice', tools).map((t) => t.name)).toEqual(['classify_ticket']);
    expect(pickTools('hello there', tools)).toEqual([]);
  });

  it('never picks more than three tools, keeping the request order on ties', () => {
    const many = ['alpha', 'beta', 'gamma', 'delta'].map((n) => ({ name: `${n}_report`, description: 'report', parameters: {} }));
    expect(pickTools('report please', many).map((t) => t.name)).toEqual(['alpha_report', 'beta_report', 'gamma_report']);
  });

  it('builds arguments from the JSON Schema', () => {
    const message = 'I was charged twice for my subscription';
    expect(argumentsFromSchema(tools[3]?.parameters ?? {}, message)).toEqual({
      text: message,
      category: 'billing',
      urgency: 'low',
      limit: 5,
      score: 1,
      strict: false,
      tags: [message],
      meta: { source: 'email' },
    });
    expect(argumentsFromSchema(tools[2]?.parameters ?? {}, message)).toEqual({ path: 'I was charged twice ' });
    expect(argumentsFromSchema({ type: 'object', properties: { url: { type: 'string', format: 'uri' } }, required: ['url'] }, 'fetch https://status.example.org/api now')).toEqual({
      url: 'https://status.example.org/api',
    });
  });

  it('calls tools on the first turn, then summarises their results', () => {
    const messages: OfflineMessage[] = [
      { role: 'system', content: 'You triage tickets.' },
      { role: 'user', content: 'What time is it?' },
    ];
    const first = deterministicReply(messages, tools);
    expect(first.kind).toBe('tool_calls');
    if (first.kind !== 'tool_calls') return;
    expect(first.toolCalls).toHaveLength(1);
    expect(first.toolCalls[0]).toMatchObject({ name: 'current_time', arguments: '{}' });
    expect(first.toolCalls[0]?.id).toMatch(/^call_[0-9a-f]{24}$/);
    // Same input, same ids.
    expect(deterministicReply(messages, tools)).toEqual(first);

    const second = deterministicReply(
      [
        ...messages,
        { role: 'assistant', content: '', toolCalls: first.toolCalls },
        { role: 'tool', toolCallId: first.toolCalls[0]?.id ?? '', content: '{"ok":true,"output":"2025-01-01T10:00:00Z"}' },
      ],
      tools,
    );
    expect(second).toEqual({
      kind: 'text',
      content: 'Summary of 1 tool result for "What time is it?":\n- current_time: {"ok":true,"output":"2025-01-01T10:00:00Z"}',
    });
  });

  it('answers directly without tools, or when none matches', () => {
    const messages: OfflineMessage[] = [{ role: 'user', content: 'hello there' }];
    expect(deterministicReply(messages, [])).toEqual({
      kind: 'text',
      content: 'Offline model answer to "hello there". This reply comes from a deterministic stand-in, not a language model.',
    });
    const reply = deterministicReply(messages, tools);
    expect(reply.kind === 'text' && reply.content.startsWith('No offered tool matched the request.')).toBe(true);
  });
});
