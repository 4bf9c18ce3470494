import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TenantBlobSpace, type BlobStore } from '../storage/blob-store.js';
import type { RunTrace } from '../telemetry/trace-context.js';

/**
 * The runtime's event feed: `run.started`, `model.called`, `tool.executed`,
 * `approval.requested` / `approval.decided`, `run.completed` / `run.failed`,
 * `budget.soft_limit_reached` (once per tenant and billing period). One small
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
  /** The run's trace context (its `invoke_agent` span and that span's parent), so sinks can link the event to the trace. */
  trace?: RunTrace;
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

/** One sink on the bus. A `required` sink's failure fails the emit (the activity retries); others are reported and skipped. */
export interface RunEventSubscriber {
  name: string;
  sink: RunEventSink;
  required?: boolean;
}

/**
 * The run-event bus: every event goes to every subscriber (telemetry, audit and metering plug in
 * here, registered once in the composition root). Subscribers run side by side; a best-effort
 * subscriber that fails is reported and does not hold up the run. Emitting is at-least-once: a
 * retried activity emits again with the same `eventId`, which subscribers use to deduplicate.
 */
export class RunEventBus implements RunEventSink {
  readonly #subscribers: readonly RunEventSubscriber[];
  readonly #report: (subscriber: string, error: unknown) => void;

  constructor(subscribers: readonly RunEventSubscriber[], report: (subscriber: string, error: unknown) => void) {
    this.#subscribers = subscribers;
    this.#report = report;
  }

  /** The subscribers' names, in order (for health output and tests). */
  get names(): string[] {
    return this.#subscribers.map((s) => s.name);
  }

  async emit(event: RunEvent): Promise<void> {
    const results = await Promise.allSettled(this.#subscribers.map((s) => s.sink.emit(event)));
    let firstRequiredFailure: unknown;
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      const subscriber = this.#subscribers[i] as RunEventSubscriber;
      if (subscriber.required) firstRequiredFailure ??= result.reason;
      else this.#report(subscriber.name, result.reason);
    });
    if (firstRequiredFailure !== undefined) throw firstRequiredFailure;
  }
}

/**
 * The run's own event log in the tenant's blob space: `runs/{runId}/events/{id}.json`, one blob
 * per event named by a hash of its `eventId`, written if-none-match, so a repeated event is
 * stored once. The default sink in every environment: the run's history stays with the
 * tenant's data (and the console and audit read it from there).
 */
export class BlobRunEventSink implements RunEventSink {
  constructor(private readonly blobs: BlobStore) {}

  async emit(event: RunEvent): Promise<void> {
    const id = createHash('sha256').update(event.eventId).digest('base64url').slice(0, 32);
    await new TenantBlobSpace(this.blobs, event.tenantId).put(`runs/${event.runId}/events/${id}.json`, JSON.stringify(event), {
      contentType: 'application/json',
      ifNoneMatch: true,
    });
  }
}
