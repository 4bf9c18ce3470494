import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';

/**
 * Local telemetry in a file: each export appends one line holding an OTLP/JSON export request
 * (`{"resourceSpans": ...}`, `{"resourceMetrics": ...}` or `{"resourceLogs": ...}`), serialised
 * by the OpenTelemetry libraries' own OTLP/JSON encoder. That is the format the Collector's
 * `otlpjsonfile` receiver reads and its `file` exporter writes, so the file can be replayed into
 * any OTLP backend, and `jq` reads it as it is. Written synchronously: exports are batched (one
 * write per batch), and nothing is lost when the process exits right after a flush.
 */
export class JsonLinesFile {
  #ready = false;
  constructor(readonly path: string) {}

  append(bytes: Uint8Array | undefined): void {
    if (!bytes || bytes.length === 0) return;
    if (!this.#ready) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.#ready = true;
    }
    appendFileSync(this.path, Buffer.concat([Buffer.from(bytes), Buffer.from('\n')]));
  }
}

function write(file: JsonLinesFile, encode: () => Uint8Array | undefined, done: (result: ExportResult) => void): void {
  try {
    file.append(encode());
    done({ code: ExportResultCode.SUCCESS });
  } catch (error) {
    done({ code: ExportResultCode.FAILED, error: error as Error });
  }
}

export class JsonLinesSpanExporter implements SpanExporter {
  constructor(private readonly file: JsonLinesFile) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    write(this.file, () => JsonTraceSerializer.serializeRequest(spans), done);
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

export class JsonLinesMetricExporter implements PushMetricExporter {
  constructor(private readonly file: JsonLinesFile) {}
  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (metrics.scopeMetrics.every((s) => s.metrics.length === 0)) return done({ code: ExportResultCode.SUCCESS });
    write(this.file, () => JsonMetricsSerializer.serializeRequest(metrics), done);
  }
  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

export class JsonLinesLogExporter implements LogRecordExporter {
  constructor(private readonly file: JsonLinesFile) {}
  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    write(this.file, () => JsonLogsSerializer.serializeRequest(records), done);
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}
