import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The runtime's event feed: `run.started`, `model.called`, `tool.executed`,
 * `approval.requested` / `approval.decided`, `run.completed` / `run.failed`. One small
 * interface so telemetry and the audit trail can plug in. Events may repeat when an activity
 * is retried (at-least-once); `eventId` is stable per occurrence so consumers can deduplicate.
 */
export interface RunEvent {
  eventId: string;
  type: string;
  tenantId: string;
  runId: string;
  correlationId: string;
  at: string;
  data: Record<string, unknown>;
}

export interface RunEventSink {
  emit(event: RunEvent): Promise<void>;
}

/** Local development sink: JSON lines appended to a file. */
export class JsonLinesRunEventSink implements RunEventSink {
  #ready: Promise<unknown> | undefined;
  constructor(private readonly file: string) {}

  async emit(event: RunEvent): Promise<void> {
    this.#ready ??= mkdir(dirname(this.file), { recursive: true });
    await this.#ready;
    await appendFile(this.file, `${JSON.stringify(event)}\n`);
  }
}

/** Keeps events in memory (tests). */
export class MemoryRunEventSink implements RunEventSink {
  readonly events: RunEvent[] = [];
  async emit(event: RunEvent): Promise<void> {
    this.events.push(event);
  }
}
