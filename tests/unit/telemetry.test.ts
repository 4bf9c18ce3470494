import { describe, expect, it } from 'vitest';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { contentPolicy, contentText, NO_CONTENT } from '../../shared/telemetry/content-policy.js';
import { createInstruments } from '../../shared/telemetry/instruments.js';
import { RunTelemetrySink, runErrorType } from '../../shared/telemetry/run-telemetry-sink.js';
import { AppIdGenerator, KeepFailuresSampler, traceKept } from '../../shared/telemetry/telemetry-sdk.js';
import { doorOf, formatTraceparent, parseTraceparent, runSpanIdOf, runTraceIdOf, runTraceOf } from '../../shared/telemetry/trace-context.js';
import type { RunEvent } from '../../shared/agent-runtime/run-events.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLinesFile, JsonLinesSpanExporter } from '../../shared/telemetry/file-exporter.js';

describe('trace context as data', () => {
  it('parses and formats W3C traceparent, refusing malformed and all-zero ids', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceparent(tp)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: '01' });
    expect(formatTraceparent(parseTraceparent(tp.toUpperCase())!)).toBe(tp);
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBeUndefined();
    expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent(`${tp}-extra`)).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });

  it('derives a run span id from the run id: stable, 16 hex digits, different per run', () => {
    expect(runSpanIdOf('contoso--abc')).toBe(runSpanIdOf('contoso--abc'));
    expect(runSpanIdOf('contoso--abc')).toMatch(/^[0-9a-f]{16}$/);
    expect(runSpanIdOf('contoso--abc')).not.toBe(runSpanIdOf('contoso--abd'));
    expect(runTraceIdOf('contoso--abc')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('hangs a run under its parent, or roots a trace of its own', () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(runTraceOf('r1', parent)).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${runSpanIdOf('r1')}-01`, parent });
    expect(runTraceOf('r1', undefined)).toEqual({ traceparent: `00-${runTraceIdOf('r1')}-${runSpanIdOf('r1')}-01` });
    expect(runTraceOf('r1', 'not-a-traceparent')).toEqual(runTraceOf('r1', undefined));
    expect(doorOf({ kind: 'app' })).toBe('runs-api');
    expect(doorOf({ kind: 'agent' })).toBe('sub-agent');
  });
});

describe('content policy', () => {
  it('records content only when the environment AND the tenant opt in', async () => {
    expect(await NO_CONTENT.captureContent('contoso')).toBe(false);
    expect(await contentPolicy(false, async () => true).captureContent('contoso')).toBe(false);
    expect(await contentPolicy(true, async () => false).captureContent('contoso')).toBe(false);
    expect(await contentPolicy(true, async () => true).captureContent('contoso')).toBe(true);
    expect(
      await contentPolicy(true, async () => {
        throw new Error('catalog down');
      }).captureContent('contoso'),
    ).toBe(false);
  });

  it('masks secret-looking keys even when content is recorded', () => {
    const text = contentText({ url: 'https://x', headers: { Authorization: 'Bearer abc' }, apiKey: 'k', password: 'p', nested: [{ token: 't' }] });
    expect(text).not.toMatch(/Bearer abc|"k"|"p"|"t"/);
    expect(text).toContain('https://x');
  });
});

function sdk() {
  const spans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ idGenerator: new AppIdGenerator(), spanProcessors: [new SimpleSpanProcessor(spans)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
  const meters = new MeterProvider({ readers: [reader] });
  const instruments = createInstruments(meters.getMeter('test'));
  const sink = new RunTelemetrySink({ tracer: () => provider.getTracer('test'), instruments: () => instruments });
  const points = async (name: string) => {
    await reader.forceFlush();
    return metricExporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === name)
      .flatMap((m) => m.dataPoints as { value: unknown; attributes: Record<string, unknown> }[]);
  };
  return { spans, sink, points };
}

const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
function event(type: string, data: Record<string, unknown>, at = '2026-01-01T00:00:10.000Z'): RunEvent {
  return { eventId: `r1:${type}`, type, tenantId: 'contoso', runId: 'r1', correlationId: 'c', at, data, trace: runTraceOf('r1', parent) };
}

describe('the run-event telemetry sink', () => {
  it('writes the run span once, with the derived id, the carried start time and its parent, and counts once', async () => {
    const { spans, sink, points } = sdk();
    const done = event('run.completed', {
      status: 'completed',
      startedAt: '2026-01-01T00:00:00.000Z',
      agent: { id: 'support-triage', version: 3, contentHash: 'abc123' },
      door: 'runs-api',
      depth: 0,
      turns: 2,
      toolCalls: 1,
      usage: { inputTokens: 10, outputTokens: 5, modelCalls: 2 },
    });
    await sink.emit(done);
    await sink.emit(done); // an activity retry repeats the event
    const finished = spans.getFinishedSpans();
    expect(finished).toHaveLength(1);
    const span = finished[0]!;
    expect(span.name).toBe('invoke_agent support-triage');
    expect(span.spanContext().spanId).toBe(runSpanIdOf('r1'));
    expect(span.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span.startTime[0]).toBe(Date.parse('2026-01-01T00:00:00.000Z') / 1000);
    expect(span.endTime[0]).toBe(Date.parse('2026-01-01T00:00:10.000Z') / 1000);
    expect(span.attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.version': '3', 'tenant.id': 'contoso', 'app.agent.content_hash': 'abc123' });
    const completed = await points('agent.runs.completed');
    expect(completed?.map((p) => p.value)).toEqual([1]);
    expect(completed?.[0]?.attributes).toMatchObject({ 'tenant.id': 'contoso', 'app.door': 'runs-api', 'gen_ai.agent.name': 'support-triage' });
  });

  it('roots a run with no parent in a trace derived from its run id, and marks a failure', async () => {
    const { spans, sink, points } = sdk();
    await sink.emit({
      ...event('run.failed', { error: 'model_unavailable: no answer', startedAt: '2026-01-01T00:00:00.000Z', agent: { id: 'a', version: 1, contentHash: 'h' }, door: 'queue' }),
      trace: runTraceOf('r1', undefined),
    });
    const span = spans.getFinishedSpans()[0]!;
    expect(span.spanContext().traceId).toBe(runTraceIdOf('r1'));
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes['error.type']).toBe('model_unavailable');
    expect((await points('agent.runs.failed'))?.map((p) => p.value)).toEqual([1]);
  });

  it('writes one approval-wait span per call under the run span, with the wait as a metric', async () => {
    const { spans, sink, points } = sdk();
    await sink.emit(event('approval.decided', { toolCallId: 'c1', tool: 'send_reply', approved: true, requestedAt: '2026-01-01T00:00:04.000Z' }));
    const span = spans.getFinishedSpans()[0]!;
    expect(span.name).toBe('await_approval send_reply');
    expect(span.parentSpanContext?.spanId).toBe(runSpanIdOf('r1'));
    const wait = await points('agent.approval.wait.duration');
    expect((wait?.[0]?.value as { sum: number }).sum).toBe(6);
  });

  it('maps run failure texts to stable error types', () => {
    expect(runErrorType('model call failed (content_filter): blocked')).toBe('content_filter');
    expect(runErrorType('conversation_lost: message 3 missing')).toBe('conversation_lost');
    expect(runErrorType('Something odd')).toBe('_OTHER');
  });
});

describe('sampling that keeps failures', () => {
  it('keeps a share of traces by trace id, and every failed span', () => {
    expect(traceKept('4bf92f3577b34da6a3ce929d0e0e4736', 1)).toBe(true);
    expect(traceKept('4bf92f3577b34da6a3ce929d0e0e4736', 0)).toBe(false);
    const spans = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new KeepFailuresSampler(new SimpleSpanProcessor(spans), 0)] });
    const tracer = provider.getTracer('t');
    tracer.startSpan('fine').end();
    const failed = tracer.startSpan('failed');
    failed.setAttribute('error.type', 'timeout');
    failed.end();
    expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['failed']);
  });
});

describe('the local telemetry file', () => {
  it('appends one OTLP/JSON export request per batch, one per line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'telemetry-file-'));
    try {
      const file = join(dir, 'sub', 'telemetry.jsonl');
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new JsonLinesSpanExporter(new JsonLinesFile(file)))] });
      const span = provider.getTracer('t').startSpan('one', { attributes: { 'tenant.id': 'contoso' } });
      span.end();
      provider.getTracer('t').startSpan('two').end();
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(2);
      const first = JSON.parse(lines[0]!) as { resourceSpans: { scopeSpans: { spans: { name: string; traceId: string; attributes: unknown[] }[] }[] }[] };
      const exported = first.resourceSpans[0]?.scopeSpans[0]?.spans[0];
      expect(exported?.name).toBe('one');
      expect(exported?.traceId).toBe(span.spanContext().traceId);
      expect(exported?.attributes).toEqual([{ key: 'tenant.id', value: { stringValue: 'contoso' } }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
