import type { HttpRequest, InvocationContext, PreInvocationContext } from '@azure/functions';
import { Attr, SpanKind, context, contextFromTraceparent, currentTraceparent, errorTypeOf, failSpan, trace, tracer, type Span } from './telemetry.js';
import { parseTraceparent } from './trace-context.js';

/**
 * The door spans, from one `preInvocation` hook (CONVENTIONS.md 16: a seam, not an edit per
 * door). For HTTP triggers a SERVER span `{method} /api/{route}`, for Service Bus a CONSUMER
 * span, for timers an INTERNAL one; the function runs inside it, so the run it starts carries it
 * as its parent (`startAgentRun` reads the active span). Durable triggers get none here:
 * orchestrations are replayed (their runs' spans come from data) and activities make their own.
 *
 * The parent is, in order: the Functions host's trace context (`context.traceContext`, set on
 * Azure when host.json says `telemetryMode: OpenTelemetry`), then the caller's W3C
 * `traceparent` header (runs API, webhooks). Every HTTP answer carries `traceresponse` (W3C
 * Trace Context Level 2): `00-<trace id>-<span id>-01` of the door's span, so a customer can find
 * their run's trace.
 */
const DOOR_BY_ROUTE: readonly [RegExp, string][] = [
  [/^tenants\/\{tenantId\}\/runs/, 'runs-api'],
  [/^webhooks\//, 'webhook'],
  [/^messages$/, 'bot'],
];

export function doorOfRoute(route: string): string {
  return DOOR_BY_ROUTE.find(([pattern]) => pattern.test(route))?.[1] ?? 'http';
}

interface TriggerInfo {
  type: string;
  route?: string;
  queueName?: string;
}

function triggerOf(ctx: InvocationContext): TriggerInfo {
  return ctx.options.trigger as unknown as TriggerInfo;
}

function hostParent(ctx: InvocationContext): string | undefined {
  const traceParent = (ctx as { traceContext?: { traceParent?: string | null } }).traceContext?.traceParent ?? undefined;
  return parseTraceparent(traceParent) ? traceParent : undefined;
}

/** The `preInvocation` hook: wraps the function's handler in its door span. */
export function traceInvocation(hook: PreInvocationContext): void {
  const ctx = hook.invocationContext;
  const trigger = triggerOf(ctx);
  const original = hook.functionHandler;
  if (trigger.type === 'httpTrigger') {
    const request = hook.inputs[0] as HttpRequest | undefined;
    const route = trigger.route ?? ctx.functionName;
    const method = request?.method ?? 'GET';
    const parent = contextFromTraceparent(hostParent(ctx) ?? request?.headers.get('traceparent') ?? undefined);
    const tenantId = request?.params['tenantId'];
    const span = tracer().startSpan(
      `${method} /api/${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'http.route': `/api/${route}`,
          'url.path': safePath(request?.url),
          'faas.trigger': 'http',
          'faas.invocation_id': ctx.invocationId,
          [Attr.door]: doorOfRoute(route),
          ...(tenantId ? { [Attr.tenantId]: tenantId } : {}),
        },
      },
      parent,
    );
    hook.functionHandler = async (...args: unknown[]) => {
      try {
        const result = (await context.with(trace.setSpan(parent, span), () => (original as (...a: unknown[]) => unknown)(...args))) as unknown;
        const status = statusOf(result);
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) failSpan(span, String(status));
        return withTraceResponse(result, span);
      } catch (error) {
        failSpan(span, errorTypeOf(error));
        throw error;
      } finally {
        span.end();
      }
    };
    return;
  }
  if (trigger.type === 'serviceBusTrigger' || trigger.type === 'timerTrigger') {
    const bus = trigger.type === 'serviceBusTrigger';
    const props = bus ? (ctx.triggerMetadata?.['applicationProperties'] as Record<string, unknown> | undefined) : undefined;
    const incoming = typeof props?.['traceparent'] === 'string' ? props['traceparent'] : typeof props?.['Diagnostic-Id'] === 'string' ? props['Diagnostic-Id'] : undefined;
    const parent = contextFromTraceparent(hostParent(ctx) ?? incoming);
    const span = tracer().startSpan(
      bus ? `process ${trigger.queueName ?? ctx.functionName}` : ctx.functionName,
      {
        kind: bus ? SpanKind.CONSUMER : SpanKind.INTERNAL,
        attributes: {
          'faas.trigger': bus ? 'pubsub' : 'timer',
          'faas.invocation_id': ctx.invocationId,
          [Attr.door]: bus ? 'queue' : 'schedule',
          ...(bus ? { 'messaging.system': 'servicebus', 'messaging.operation.type': 'process', 'messaging.destination.name': trigger.queueName ?? '' } : {}),
        },
      },
      parent,
    );
    hook.functionHandler = async (...args: unknown[]) => {
      try {
        return await context.with(trace.setSpan(parent, span), () => (original as (...a: unknown[]) => unknown)(...args));
      } catch (error) {
        failSpan(span, errorTypeOf(error));
        throw error;
      } finally {
        span.end();
      }
    };
  }
}

/** Sets `tenant.id` on the active (door) span once a door has resolved the tenant (bot, queue). */
export function noteTenant(tenantId: string): void {
  trace.getActiveSpan()?.setAttribute(Attr.tenantId, tenantId);
}

export { currentTraceparent };

function safePath(url: string | undefined): string {
  if (!url) return '';
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

function statusOf(result: unknown): number {
  const r = result as { status?: unknown } | undefined;
  return typeof r?.status === 'number' ? r.status : 200;
}

function withTraceResponse(result: unknown, span: Span): unknown {
  const sc = span.spanContext();
  const value = `00-${sc.traceId}-${sc.spanId}-01`;
  // An HttpResponse instance (its headers are a Headers object), or a plain HttpResponseInit.
  const own = (result as { headers?: unknown } | undefined)?.headers;
  if (own instanceof Headers && !Object.prototype.hasOwnProperty.call(result, 'headers')) {
    own.set('traceresponse', value);
    return result;
  }
  if (result && typeof result === 'object') {
    const init = result as { headers?: ConstructorParameters<typeof Headers>[0] };
    const headers = new Headers(init.headers);
    headers.set('traceresponse', value);
    return { ...init, headers };
  }
  return { status: 200, headers: { traceresponse: value } };
}
