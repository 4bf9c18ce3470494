import type { Attributes, Tracer } from '@opentelemetry/api';
import type { RunEvent, RunEventSink } from '../agent-runtime/run-events.js';
import { doorOf, type Initiator } from '../agent-runtime/run-types.js';
import type { Instruments } from './instruments.js';
import { instruments as globalInstruments } from './instruments.js';
import { Attr, SpanKind, contextFromTraceparent, failSpan, startSpanWithIds, tracer as globalTracer } from './telemetry.js';
import { parseTraceparent } from './trace-context.js';

/**
 * The run-event bus's telemetry subscriber: run-level metrics (started, completed, failed,
 * canceled, duration, tool calls, approval waits) and the spans only a run's end can write — its
 * `invoke_agent` span (id derived from the run id, start time carried through the run) and one
 * span per approval wait. Events repeat when an activity is retried; a repeated `eventId` is
 * dropped here (per process: a retry on another instance can still repeat a run span, with the
 * same span id, which trace stores show once).
 */
export class RunTelemetrySink implements RunEventSink {
  readonly #seen = new Set<string>();
  readonly #limit: number;
  readonly #instruments: () => Instruments;
  readonly #tracer: () => Tracer;

  constructor(options: { dedupeLimit?: number; instruments?: () => Instruments; tracer?: () => Tracer } = {}) {
    this.#limit = options.dedupeLimit ?? 10_000;
    this.#instruments = options.instruments ?? globalInstruments;
    this.#tracer = options.tracer ?? globalTracer;
  }

  async emit(event: RunEvent): Promise<void> {
    if (this.#seen.has(event.eventId)) return;
    if (this.#seen.size >= this.#limit) this.#seen.delete(this.#seen.values().next().value as string);
    this.#seen.add(event.eventId);
    const data = event.data;
    const m = this.#instruments();
    switch (event.type) {
      case 'run.started': {
        const initiator = data['initiator'] as { kind?: string } | undefined;
        m.runsStarted.add(1, {
          [Attr.tenantId]: event.tenantId,
          [Attr.door]: str(data['door']) ?? (initiator?.kind ? doorOf(initiator as Initiator) : 'unknown'),
          [Attr.agentName]: str(data['agent']) ?? 'unknown',
        });
        return;
      }
      case 'run.completed':
      case 'run.failed':
        this.#runEnded(event, m);
        return;
      case 'budget.soft_limit_reached':
        // Emitted once per tenant and period (a write-once marker picks the emitting step).
        m.budgetSoftLimits.add(1, { [Attr.tenantId]: event.tenantId });
        return;
      case 'tool.executed':
        m.toolCalls.add(1, {
          [Attr.tenantId]: event.tenantId,
          [Attr.toolName]: str(data['tool']) ?? 'unknown',
          outcome: data['ok'] === true ? 'ok' : 'error',
          ...(typeof data['error'] === 'string' ? { [Attr.errorType]: data['error'] } : {}),
        });
        return;
      case 'approval.decided':
        this.#approval(event, m, [{ toolCallId: str(data['toolCallId']) ?? '', tool: str(data['tool']) ?? 'unknown' }], data['approved'] === true ? 'approved' : 'denied');
        return;
      case 'approval.timed_out':
        this.#approval(event, m, Array.isArray(data['calls']) ? (data['calls'] as { toolCallId: string; tool: string }[]) : [], 'timed_out');
        return;
      default:
        return;
    }
  }

  #runEnded(event: RunEvent, m: Instruments): void {
    const data = event.data;
    const agent = (data['agent'] ?? {}) as { id?: string; version?: number; contentHash?: string };
    const failed = event.type === 'run.failed';
    const status = failed ? 'failed' : (str(data['status']) ?? 'completed');
    const attributes: Attributes = { [Attr.tenantId]: event.tenantId, [Attr.door]: str(data['door']) ?? 'unknown', [Attr.agentName]: agent.id ?? 'unknown' };
    if (failed) m.runsFailed.add(1, attributes);
    else if (status === 'canceled') m.runsCanceled.add(1, attributes);
    else m.runsCompleted.add(1, { ...attributes, 'app.run.end_reason': status });
    const startedAt = str(data['startedAt']);
    const startMs = startedAt ? Date.parse(startedAt) : NaN;
    const endMs = Date.parse(event.at);
    if (Number.isFinite(startMs) && Number.isFinite(endMs)) m.runDuration.record(Math.max(0, endMs - startMs) / 1000, { ...attributes, 'app.run.status': status });

    // The run's own span, once: its id was fixed when the run began, so activities' spans already hang from it.
    const own = parseTraceparent(event.trace?.traceparent);
    if (!own || !Number.isFinite(startMs)) return;
    const usage = (data['usage'] ?? {}) as { inputTokens?: number; outputTokens?: number };
    const span = startSpanWithIds(
      this.#tracer(),
      `invoke_agent ${agent.id ?? 'agent'}`,
      own,
      {
        kind: SpanKind.INTERNAL,
        startTime: new Date(startMs),
        attributes: {
          [Attr.operationName]: 'invoke_agent',
          [Attr.tenantId]: event.tenantId,
          [Attr.conversationId]: event.runId,
          [Attr.door]: str(data['door']) ?? 'unknown',
          ...(agent.id ? { [Attr.agentId]: agent.id, [Attr.agentName]: agent.id } : {}),
          ...(agent.version !== undefined ? { [Attr.agentVersion]: String(agent.version) } : {}),
          ...(agent.contentHash ? { [Attr.contentHash]: agent.contentHash } : {}),
          ...(typeof usage.inputTokens === 'number' ? { [Attr.inputTokens]: usage.inputTokens } : {}),
          ...(typeof usage.outputTokens === 'number' ? { [Attr.outputTokens]: usage.outputTokens } : {}),
          'app.run.status': status,
          'app.run.depth': typeof data['depth'] === 'number' ? data['depth'] : 0,
          ...(typeof data['turns'] === 'number' ? { 'app.run.turns': data['turns'] } : {}),
          ...(typeof data['toolCalls'] === 'number' ? { 'app.run.tool_calls': data['toolCalls'] } : {}),
          'app.correlation_id': event.correlationId,
        },
      },
      contextFromTraceparent(event.trace?.parent),
    );
    if (failed) failSpan(span, runErrorType(str(data['error']) ?? ''));
    span.end(new Date(Math.max(endMs, startMs)));
  }

  #approval(event: RunEvent, m: Instruments, calls: { toolCallId: string; tool: string }[], outcome: string): void {
    const requestedAt = str(event.data['requestedAt']);
    const startMs = requestedAt ? Date.parse(requestedAt) : NaN;
    const endMs = Date.parse(event.at);
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) return;
    for (const call of calls) {
      m.approvalWait.record(Math.max(0, endMs - startMs) / 1000, { [Attr.tenantId]: event.tenantId, [Attr.toolName]: call.tool, outcome });
      if (!event.trace) continue;
      const span = this.#tracer().startSpan(
        `await_approval ${call.tool}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: new Date(startMs),
          attributes: {
            [Attr.tenantId]: event.tenantId,
            [Attr.conversationId]: event.runId,
            [Attr.toolName]: call.tool,
            [Attr.toolCallId]: call.toolCallId,
            'app.approval.outcome': outcome,
          },
        },
        contextFromTraceparent(event.trace.traceparent),
      );
      span.end(new Date(Math.max(endMs, startMs)));
    }
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** `model_unavailable: ...` / `model call failed (content_filter): ...` → the code; else `_OTHER`. */
export function runErrorType(message: string): string {
  return /^([a-z][a-z0-9_]{2,63}):/.exec(message)?.[1] ?? /^model call failed \(([a-z0-9_]+)\)/.exec(message)?.[1] ?? '_OTHER';
}
