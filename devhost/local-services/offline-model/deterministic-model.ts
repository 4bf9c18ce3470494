import { createHash, randomBytes } from 'node:crypto';

/**
 * The offline model's default behaviour: plain, deterministic rules over the request. It is not
 * a language model; it only makes the agent loop's shape (tool calls, then an answer) happen
 * the same way every time. Pure functions: same messages and tools in, same reply out.
 */

/** A conversation message reduced to what the rules read. */
export interface OfflineMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCalls?: OfflineToolCall[];
  toolCallId?: string;
}

export interface OfflineToolCall {
  id: string;
  name: string;
  /** JSON text. */
  arguments: string;
}

/** A function tool as offered in the request. */
export interface OfflineToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export type OfflineReply = { kind: 'text'; content: string } | { kind: 'tool_calls'; toolCalls: OfflineToolCall[] };

/** At most this many tools are called in one turn. */
export const MAX_TOOLS_PER_TURN = 3;

const STOP_WORDS = new Set(
  (
    'the and for with that this from what when where which have has had are was were can could would should ' +
    'please you your our their about into onto them they then than there here how why who not but all any get ' +
    'use using will just also some more most very been being does did its out one two may might must shall ' +
    'need needs want wants like tell give make made let'
  ).split(' '),
);

/** Words reduced to crude stems (first six letters), so `documents`/`document` and `summarize`/`summary` meet. */
export function stems(text: string): Set<string> {
  const words = text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  const out = new Set<string>();
  for (const word of words) {
    if (word.length < 3 || STOP_WORDS.has(word)) continue;
    out.add(word.slice(0, 6));
  }
  return out;
}

/**
 * The tools that best match `message`: 3 points per word found in the tool's name, 1 per word
 * found only in its description; score 0 is never chosen; ties keep the request's order.
 */
export function pickTools(message: string, tools: readonly OfflineToolSpec[]): OfflineToolSpec[] {
  const wanted = stems(message);
  return tools
    .map((tool, index) => {
      const nameStems = stems(tool.name.replace(/[_-]+/g, ' '));
      const descriptionStems = stems(tool.description);
      let score = 0;
      for (const s of wanted) score += nameStems.has(s) ? 3 : descriptionStems.has(s) ? 1 : 0;
      return { tool, index, score };
    })
    .filter((t) => t.score > 0)
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, MAX_TOOLS_PER_TURN)
    .map((t) => t.tool);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function firstUrl(text: string): string | undefined {
  return /https?:\/\/[^\s"'<>)]+/.exec(text)?.[0];
}

function schemaType(schema: Record<string, unknown>): string | undefined {
  const type = schema['type'];
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.find((t): t is string => typeof t === 'string' && t !== 'null');
  if (isRecord(schema['properties'])) return 'object';
  return undefined;
}

function valueFor(schema: unknown, message: string, depth: number): unknown {
  if (!isRecord(schema) || depth > 6) return message;
  if ('const' in schema) return schema['const'];
  const enumValues = schema['enum'];
  if (Array.isArray(enumValues) && enumValues.length > 0) return enumValues[0];
  if ('default' in schema) return schema['default'];
  for (const combinator of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[combinator];
    if (Array.isArray(branches)) {
      const branch = branches.find((b) => isRecord(b) && b['type'] !== 'null');
      if (branch !== undefined) return valueFor(branch, message, depth + 1);
    }
  }
  const num = (key: string): number | undefined => (typeof schema[key] === 'number' ? (schema[key] as number) : undefined);
  switch (schemaType(schema)) {
    case 'string': {
      const format = schema['format'];
      let text =
        format === 'uri' || format === 'url'
          ? (firstUrl(message) ?? 'https://example.com/')
          : format === 'date-time'
            ? '2000-01-01T00:00:00Z'
            : format === 'date'
              ? '2000-01-01'
              : format === 'email'
                ? 'user@example.com'
                : message;
      const maxLength = num('maxLength');
      const minLength = num('minLength');
      if (maxLength !== undefined) text = text.slice(0, maxLength);
      if (minLength !== undefined && text.length < minLength) text = text.padEnd(minLength, '.');
      return text;
    }
    case 'integer':
    case 'number': {
      const exclusiveMinimum = num('exclusiveMinimum');
      let value = num('minimum') ?? (exclusiveMinimum === undefined ? 1 : exclusiveMinimum + 1);
      const maximum = num('maximum');
      if (maximum !== undefined && value > maximum) value = maximum;
      return schemaType(schema) === 'integer' ? Math.ceil(value) : value;
    }
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'array': {
      const count = num('minItems') ?? 0;
      return Array.from({ length: count }, () => valueFor(schema['items'], message, depth + 1));
    }
    case 'object':
      return objectFor(schema, message, depth + 1);
    default:
      return message;
  }
}

function objectFor(schema: Record<string, unknown>, message: string, depth: number): Record<string, unknown> {
  const properties = isRecord(schema['properties']) ? schema['properties'] : {};
  const required = Array.isArray(schema['required']) ? schema['required'].filter((r): r is string => typeof r === 'string') : [];
  const out: Record<string, unknown> = {};
  for (const key of required) out[key] = valueFor(properties[key], message, depth);
  return out;
}

/**
 * Arguments for a tool, built from its JSON Schema: every required field gets a value (strings
 * the user's message, or a URL / date / email for those formats; enums their first value;
 * numbers their minimum or 1; booleans false; arrays `minItems` items); optional fields are left out.
 */
export function argumentsFromSchema(parameters: Record<string, unknown>, message: string): Record<string, unknown> {
  return objectFor(parameters, message, 0);
}

/** Makes a tool-call id; gets the conversation position, the user's message, the tool and its index in the turn. */
export type ToolCallIdSource = (messageCount: number, userMessage: string, toolName: string, index: number) => string;

/** A stable call id from the conversation position, so the same request always gets the same ids (`stable` mode). */
export const stableToolCallId: ToolCallIdSource = (messageCount, userMessage, toolName, index) => {
  const digest = createHash('sha256')
    .update(JSON.stringify([messageCount, userMessage, toolName, index]))
    .digest('hex');
  return `call_${digest.slice(0, 24)}`;
};

/** A new random id per call, as the real service gives (`fresh` mode, the default). */
export const freshToolCallId: ToolCallIdSource = () => `call_${randomBytes(12).toString('hex')}`;

/**
 * Checks tool messages the way Azure OpenAI does; returns the service's complaint, or undefined.
 * Every `tool` message must answer a call of the assistant message right before its block of
 * tool messages, and every call of an assistant message must be answered before anything else.
 */
export function toolMessageProblem(messages: readonly OfflineMessage[]): string | undefined {
  let open: Set<string> | undefined;
  let answered = new Set<string>();
  const unanswered = (): string | undefined => {
    if (open === undefined) return undefined;
    const missing = [...open].filter((id) => !answered.has(id));
    return missing.length === 0
      ? undefined
      : `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(', ')}`;
  };
  for (const m of messages) {
    if (m.role === 'tool') {
      if (open === undefined || m.toolCallId === undefined || !open.has(m.toolCallId)) {
        return `Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls' (tool_call_id ${m.toolCallId ?? '(none)'} does not respond to one).`;
      }
      answered.add(m.toolCallId);
      continue;
    }
    const problem = unanswered();
    if (problem) return problem;
    open = m.role === 'assistant' && (m.toolCalls?.length ?? 0) > 0 ? new Set(m.toolCalls?.map((c) => c.id)) : undefined;
    answered = new Set();
  }
  return unanswered();
}

function oneLine(text: string, maxChars: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= maxChars ? flat : `${flat.slice(0, maxChars - 1)}…`;
}

/**
 * The deterministic reply:
 * - tool results after the last user message → a final text summarising them;
 * - otherwise, with tools offered → call the best-matching tools (at most 3);
 * - no tool offered or none matching → a direct text answer.
 */
export function deterministicReply(messages: readonly OfflineMessage[], tools: readonly OfflineToolSpec[], toolCallId: ToolCallIdSource = stableToolCallId): OfflineReply {
  let lastUserIndex = -1;
  messages.forEach((m, i) => {
    if (m.role === 'user') lastUserIndex = i;
  });
  const userMessage = lastUserIndex >= 0 ? (messages[lastUserIndex]?.content ?? '') : '';
  const after = messages.slice(lastUserIndex + 1);
  const results = after.filter((m) => m.role === 'tool');

  if (results.length > 0) {
    const toolNames = new Map<string, string>();
    for (const m of after) for (const c of m.toolCalls ?? []) toolNames.set(c.id, c.name);
    const lines = results.map((r) => `- ${toolNames.get(r.toolCallId ?? '') ?? 'tool'}: ${oneLine(r.content, 200)}`);
    return {
      kind: 'text',
      content: `Summary of ${results.length} tool result${results.length === 1 ? '' : 's'} for "${oneLine(userMessage, 120)}":\n${lines.join('\n')}`,
    };
  }

  const chosen = pickTools(userMessage, tools);
  if (chosen.length > 0) {
    return {
      kind: 'tool_calls',
      toolCalls: chosen.map((tool, index) => ({
        id: toolCallId(messages.length, userMessage, tool.name, index),
        name: tool.name,
        arguments: JSON.stringify(argumentsFromSchema(tool.parameters, userMessage)),
      })),
    };
  }

  const why = tools.length > 0 ? 'No offered tool matched the request. ' : '';
  return {
    kind: 'text',
    content: `${why}Offline model answer to "${oneLine(userMessage, 200)}". This reply comes from a deterministic stand-in, not a language model.`,
  };
}

/** A deterministic token estimate: one token per four characters, rounded up. */
export function estimateTokens(charCount: number): number {
  return Math.ceil(charCount / 4);
}
