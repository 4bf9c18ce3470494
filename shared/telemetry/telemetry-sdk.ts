import { randomBytes } from 'node:crypto';
import { context, metrics, propagation, trace, SpanStatusCode, type Context } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type IdGenerator, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPLogExporter as OTLPJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { AzureMonitorLogExporter, AzureMonitorMetricExporter, AzureMonitorTraceExporter } from '@azure/monitor-opentelemetry-exporter';
import type { TokenCredential } from '@azure/identity';
import type { TelemetryConfig } from '../config.js';
import { JsonLinesFile, JsonLinesLogExporter, JsonLinesMetricExporter, JsonLinesSpanExporter } from './file-exporter.js';
import { forcedIds, INSTRUMENTATION_VERSION } from './telemetry.js';

/**
 * The OpenTelemetry SDK for this process, started once from the composition root: one tracer,
 * meter and logger provider registered globally (W3C trace context, AsyncLocalStorage context),
 * with every exporter the settings ask for side by side:
 *
 * - **file** (`TELEMETRY_FILE`; `npm start` names `.devhost/telemetry.jsonl`): OTLP/JSON export
 *   requests, one per line, the format the OpenTelemetry Collector's `otlpjsonfile` receiver reads;
 * - **OTLP** (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf` |
 *   `http/json`): any collector, the Aspire dashboard, Jaeger...;
 * - **Azure Monitor** (`APPLICATIONINSIGHTS_CONNECTION_STRING`, Entra auth through
 *   `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` / managed identity): Application Insights.
 *
 * Sampling keeps every failed run: every span is recorded, and at export a span is kept when its
 * trace falls in `TELEMETRY_SAMPLING_RATIO` (decided by trace id, so a trace is kept or dropped
 * whole) or when it failed (the run span of a failed run, the failed model call or tool call).
 */
export interface TelemetryRuntime {
  /** Names of the exporters in use (`file`, `otlp`, `azure-monitor`); empty: telemetry is off. */
  readonly exporters: readonly string[];
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

const OFF: TelemetryRuntime = { exporters: [], forceFlush: async () => {}, shutdown: async () => {} };

let started: TelemetryRuntime | undefined;

/** Starts the SDK for this process (once; later calls return the first runtime). */
export function startTelemetry(config: TelemetryConfig, credential: () => TokenCredential): TelemetryRuntime {
  if (started) return started;
  const exporters = buildExporters(config, credential);
  if (exporters.length === 0) {
    started = OFF;
    return started;
  }
  const resource = resourceFromAttributes({
    'service.name': config.serviceName,
    'service.version': INSTRUMENTATION_VERSION,
    'deployment.environment.name': config.environment,
  });
  const delay = config.exportIntervalMs;
  const tracerProvider = new BasicTracerProvider({
    resource,
    idGenerator: new AppIdGenerator(),
    spanProcessors: exporters.map((e) => new KeepFailuresSampler(new BatchSpanProcessor(e.spans, { scheduledDelayMillis: delay }), config.samplingRatio)),
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: exporters.map(
      (e) => new PeriodicExportingMetricReader({ exporter: e.metrics, exportIntervalMillis: Math.max(delay, 100), exportTimeoutMillis: Math.max(delay, 100) }),
    ),
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: exporters.map((e) => new BatchLogRecordProcessor({ exporter: e.logs, scheduledDelayMillis: delay })),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  const all = async (fn: (p: { forceFlush(): Promise<void>; shutdown(): Promise<void> }) => Promise<void>): Promise<void> => {
    await Promise.allSettled([fn(tracerProvider), fn(meterProvider), fn(loggerProvider)]);
  };
  started = {
    exporters: exporters.map((e) => e.name),
    forceFlush: () => all((p) => p.forceFlush()),
    shutdown: () => all((p) => p.shutdown()),
  };
  return started;
}

interface ExporterSet {
  name: string;
  spans: SpanExporter;
  metrics: PushMetricExporter;
  logs: LogRecordExporter;
}

function buildExporters(config: TelemetryConfig, credential: () => TokenCredential): ExporterSet[] {
  const out: ExporterSet[] = [];
  if (config.file) {
    const file = new JsonLinesFile(config.file);
    out.push({ name: 'file', spans: new JsonLinesSpanExporter(file), metrics: new JsonLinesMetricExporter(file), logs: new JsonLinesLogExporter(file) });
  }
  if (config.otlp) {
    const base = config.otlp.endpoint.replace(/\/+$/, '');
    const json = config.otlp.protocol === 'http/json';
    out.push({
      name: 'otlp',
      spans: json ? new OTLPJsonTraceExporter({ url: `${base}/v1/traces` }) : new OTLPProtoTraceExporter({ url: `${base}/v1/traces` }),
      metrics: json ? new OTLPJsonMetricExporter({ url: `${base}/v1/metrics` }) : new OTLPProtoMetricExporter({ url: `${base}/v1/metrics` }),
      logs: json ? new OTLPJsonLogExporter({ url: `${base}/v1/logs` }) : new OTLPProtoLogExporter({ url: `${base}/v1/logs` }),
    });
  }
  if (config.azureMonitor) {
    const options = {
      connectionString: config.azureMonitor.connectionString,
      ...(config.azureMonitor.entraAuth ? { credential: credential() } : {}),
    };
    out.push({
      name: 'azure-monitor',
      spans: new AzureMonitorTraceExporter(options),
      metrics: new AzureMonitorMetricExporter(options),
      logs: new AzureMonitorLogExporter(options),
    });
  }
  return out;
}

/**
 * Random ids, except for a span whose ids were fixed in advance (`startSpanWithIds`: a run's
 * `invoke_agent` span, whose id is derived from the run id so its activities could parent to it).
 */
export class AppIdGenerator implements IdGenerator {
  generateTraceId(): string {
    const forced = forcedIds.traceId;
    forcedIds.traceId = undefined;
    return forced ?? randomBytes(16).toString('hex');
  }
  generateSpanId(): string {
    const forced = forcedIds.spanId;
    forcedIds.spanId = undefined;
    return forced ?? randomBytes(8).toString('hex');
  }
}

/** The share of traces kept, decided by trace id (the same answer for every span of a trace, in every process). */
export function traceKept(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(-8), 16) / 0x1_0000_0000 < ratio;
}

/** Passes a span to `inner` when its trace is in the sample or when it failed. */
export class KeepFailuresSampler implements SpanProcessor {
  constructor(
    private readonly inner: SpanProcessor,
    private readonly ratio: number,
  ) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    if (traceKept(span.spanContext().traceId, this.ratio) || span.status.code === SpanStatusCode.ERROR || span.attributes['error.type'] !== undefined) this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
