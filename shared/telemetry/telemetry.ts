import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, metrics, trace, type Attributes, type Context, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent, type RunTrace } from './trace-context.js';

/**
 * The app's side of telemetry: spans, metrics and the context between them, through the
 * OpenTelemetry API only. The SDK (providers, exporters, sampling) is set up once in
 * `telemetry-sdk.ts` from the composition root; without it every call here is a no-op, so tests
 * and tools that do not start it pay nothing.
 *
 * Attribute names follow the OpenTelemetry GenAI semantic conventions (`gen_ai.*`); ours are
 * `tenant.id` (on every span and metric), `app.door`, `app.agent.content_hash`,
 * `app.model.deployment` and `app.model.fallback`.
 */
export const INSTRUMENTATION_NAME = 'durable-agent-pipeline';
export const INSTRUMENTATION_VERSION = '0.1.0';

export const Attr = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  tokenType: 'gen_ai.token.type',
  agentId: 'gen_ai.agent.id',
  agentName: 'gen_ai.agent.name',
  agentVersion: 'gen_ai.agent.version',
  conversationId: 'gen_ai.conversation.id',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  toolType: 'gen_ai.tool.type',
  /** Opt-in content (section 2 of issue 14): recorded only when the environment and the tenant allow it. */
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
  systemInstructions: 'gen_ai.system_instructions',
  toolArguments: 'gen_ai.tool.call.arguments',
  toolResult: 'gen_ai.tool.call.result',
  errorType: 'error.type',
  tenantId: 'tenant.id',
  door: 'app.door',
  contentHash: 'app.agent.content_hash',
  deployment: 'app.model.deployment',
  fallback: 'app.model.fallback',
} as const;

/** The attribute keys that may hold prompts, outputs, tool arguments or results. */
export const CONTENT_ATTRIBUTES: readonly string[] = [Attr.inputMessages, Attr.outputMessages, Attr.systemInstructions, Attr.toolArguments, Attr.toolResult];

export function tracer(): Tracer {
  return trace.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
}

export function meter(): Meter {
  return metrics.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
}

/** The active span as a W3C `traceparent`, when there is a valid one (a door's span, say). */
export function currentTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  const sc = span?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00' });
}

/**
 * A context whose (remote) parent is `traceparent`; the root context when it is absent or invalid.
 * Marked sampled whatever the caller said: this app records every span and decides what to keep
 * at export (telemetry-sdk.ts keeps every failure), so a caller cannot switch tracing off.
 */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  const p = parseTraceparent(traceparent);
  if (!p) return base;
  return trace.setSpanContext(base, { traceId: p.traceId, spanId: p.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
}

/** The parent context for spans an activity of this run makes: the run's `invoke_agent` span. */
export function runContext(run: RunTrace | undefined): Context {
  return contextFromTraceparent(run?.traceparent);
}

/**
 * Ids the next span must take, for spans whose id is known in advance (a run's `invoke_agent`
 * span: its id is derived from the run id). Read by the SDK's id generator (telemetry-sdk.ts).
 */
export const forcedIds: { traceId?: string | undefined; spanId?: string | undefined } = {};

/**
 * Starts a span with a given span id (and trace id when it has no parent). Synchronous on
 * purpose: the id generator is consulted inside `startSpan`, before anything else can run.
 */
export function startSpanWithIds(t: Tracer, name: string, ids: { traceId: string; spanId: string }, options: Parameters<Tracer['startSpan']>[1], parent: Context): Span {
  forcedIds.traceId = ids.traceId;
  forcedIds.spanId = ids.spanId;
  try {
    return t.startSpan(name, options, parent);
  } finally {
    forcedIds.traceId = undefined;
    forcedIds.spanId = undefined;
  }
}

/** Marks `span` failed with `errorType` (`error.type`: a stable code, never a message with data in it). */
export function failSpan(span: Span, errorType: string, message?: string): void {
  span.setAttribute(Attr.errorType, errorType);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message: message.slice(0, 200) } : {}) });
}

/** The stable type of an error: its `code`, else its `name`, else `_OTHER` (as the conventions say). */
export function errorTypeOf(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown } | undefined;
  if (typeof e?.code === 'string' && e.code) return e.code;
  if (typeof e?.name === 'string' && e.name && e.name !== 'Error') return e.name;
  return '_OTHER';
}

/** Runs `fn` inside `span` (the active span for anything it starts), ending the span after it. */
export async function inSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(context.active(), span), fn);
  } catch (error) {
    failSpan(span, errorTypeOf(error));
    throw error;
  } finally {
    span.end();
  }
}

export { SpanKind, SpanStatusCode, context, trace, type Attributes, type Span };
