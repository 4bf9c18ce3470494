import type { RunEvent } from '../agent-runtime/run-events.js';

/**
 * What one run event adds to the usage ledger: counts per dimension. Dimensions are
 * `tokens.input:{deployment}`, `tokens.output:{deployment}`, `runs.started`, `runs.completed`,
 * `runs.canceled`, `runs.failed`, `tool.calls`. Events that are not usage add nothing.
 */
export type Increments = Record<string, number>;

export const TOKEN_INPUT_PREFIX = 'tokens.input:';
export const TOKEN_OUTPUT_PREFIX = 'tokens.output:';

/** A non-negative integer count from event data, or 0 (a malformed count is not usage). */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/** The increments an event carries, or undefined when it carries none. */
export function incrementsOf(event: Pick<RunEvent, 'type' | 'data'>): Increments | undefined {
  const d = event.data;
  switch (event.type) {
    case 'model.called': {
      const deployment = typeof d['deployment'] === 'string' && d['deployment'] !== '' ? d['deployment'] : 'unknown';
      const increments: Increments = {};
      const input = count(d['inputTokens']);
      const output = count(d['outputTokens']);
      if (input > 0) increments[`${TOKEN_INPUT_PREFIX}${deployment}`] = input;
      if (output > 0) increments[`${TOKEN_OUTPUT_PREFIX}${deployment}`] = output;
      return Object.keys(increments).length > 0 ? increments : undefined;
    }
    case 'run.started':
      return { 'runs.started': 1 };
    case 'run.completed':
      return d['status'] === 'canceled' ? { 'runs.canceled': 1 } : { 'runs.completed': 1 };
    case 'run.failed':
      return { 'runs.failed': 1 };
    case 'tool.executed':
      return { 'tool.calls': 1 };
    default:
      return undefined;
  }
}

/** Input plus output tokens over every deployment. */
export function totalTokens(usage: Readonly<Increments>): number {
  let total = 0;
  for (const [dimension, value] of Object.entries(usage)) {
    if (dimension.startsWith(TOKEN_INPUT_PREFIX) || dimension.startsWith(TOKEN_OUTPUT_PREFIX)) total += value;
  }
  return total;
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addInto(a: Increments, b: Readonly<Increments>): Increments {
  for (const [dimension, value] of Object.entries(b)) a[dimension] = (a[dimension] ?? 0) + value;
  return a;
}

const HOUR_MS = 3_600_000;

/** The UTC hour containing `ms`, as its start in ms. */
export function hourStartMs(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/** The blob-path form of an hour: `2026-12-02T20` (sorts chronologically; no `:`). */
export function hourKey(ms: number): string {
  return new Date(hourStartMs(ms)).toISOString().slice(0, 13);
}

/** Inverse of {@link hourKey}. */
export function hourKeyStartMs(key: string): number {
  return Date.parse(`${key}:00:00.000Z`);
}

export { HOUR_MS };
