export { doorOf } from '../agent-runtime/run-types.js';

/**
 * W3C trace context as data, for code that must not touch the telemetry SDK: orchestrators
 * (replayed, no I/O: DESIGN.md section 5) carry a run's trace context in their inputs with these
 * helpers, and activities and the run-event sink turn it back into spans. Pure and deterministic:
 * no imports with side effects, no clock, no randomness, safe in `shared/orchestrators/**`.
 *
 * A run's `invoke_agent` span has an id derived from the run id ({@link runSpanIdOf}), so its
 * activities can parent their spans to it long before it is exported (once, when the run ends).
 */

/** The parts of a `traceparent` header (version 00). */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Two hex digits; `01` = sampled. */
  flags: string;
}

/**
 * What an activity input carries: the run's own span as a `traceparent` (trace id + the run's
 * derived `invoke_agent` span id), and, on the events that end a run, the span it hangs from.
 */
export interface RunTrace {
  /** `00-<trace id>-<run span id>-<flags>`: parent of every span an activity of this run makes. */
  traceparent: string;
  /** The span the run's own span is a child of: the door's span, or the parent run's span. */
  parent?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a W3C `traceparent`; undefined when absent or malformed (an invalid header is ignored, as the spec says). */
export function parseTraceparent(value: string | null | undefined): TraceParent | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  // Version 00 has exactly four fields; later versions may append more, which we ignore.
  if (version === '00' && rest !== undefined) return undefined;
  return { traceId, spanId, flags };
}

export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.flags}`;
}

/** 64-bit FNV-1a of `text` (UTF-16 code units), as 16 hex digits. Not a security hash: ids only. */
function fnv1a64(text: string, seed: bigint): string {
  let hash = 0xcbf29ce484222325n ^ seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

/** The span id of run `runId`'s `invoke_agent` span: the same in every process, replay and generation. */
export function runSpanIdOf(runId: string): string {
  const id = fnv1a64(`invoke_agent:${runId}`, 0n);
  return id === ZERO_SPAN ? '0000000000000001' : id;
}

/** A trace id for a run that arrived with no trace context (started without a door span). */
export function runTraceIdOf(runId: string): string {
  return `${fnv1a64(`trace:${runId}`, 0n)}${fnv1a64(`trace:${runId}`, 0x9e3779b97f4a7c15n)}`;
}

/**
 * The trace context of run `runId` whose span hangs from `parent` (a door's or parent run's
 * `traceparent`, or nothing: the run then roots its own trace, with an id derived from the run id).
 */
export function runTraceOf(runId: string, parent: string | undefined): RunTrace {
  const p = parseTraceparent(parent);
  const traceparent = formatTraceparent({ traceId: p?.traceId ?? runTraceIdOf(runId), spanId: runSpanIdOf(runId), flags: '01' });
  return p ? { traceparent, parent: formatTraceparent(p) } : { traceparent };
}
