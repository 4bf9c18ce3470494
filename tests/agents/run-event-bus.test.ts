import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobRunEventSink, MemoryRunEventSink, RunEventBus, type RunEvent } from '../../shared/agent-runtime/run-events.js';
import { parseConfig } from '../../shared/config.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';

const event = (eventId: string): RunEvent => ({
  eventId,
  type: 'run.started',
  tenantId: 'contoso',
  runId: 'contoso--r1',
  correlationId: 'c',
  at: '2026-12-02T00:00:00.000Z',
  data: {},
});

describe('run-event bus', () => {
  it('fans every event out to every subscriber', async () => {
    const a = new MemoryRunEventSink();
    const b = new MemoryRunEventSink();
    await new RunEventBus(
      [
        { name: 'a', sink: a },
        { name: 'b', sink: b },
      ],
      () => {},
    ).emit(event('e1'));
    expect(a.events.map((e) => e.eventId)).toEqual(['e1']);
    expect(b.events.map((e) => e.eventId)).toEqual(['e1']);
  });

  it('reports a failing best-effort subscriber without failing the emit; a required one fails it', async () => {
    const reported: string[] = [];
    const ok = new MemoryRunEventSink();
    const failing = { emit: async () => Promise.reject(new Error('down')) };
    await new RunEventBus(
      [
        { name: 'telemetry', sink: failing },
        { name: 'ok', sink: ok },
      ],
      (name) => reported.push(name),
    ).emit(event('e2'));
    expect(reported).toEqual(['telemetry']);
    expect(ok.events).toHaveLength(1);
    await expect(new RunEventBus([{ name: 'audit', sink: failing, required: true }], () => {}).emit(event('e3'))).rejects.toThrow('down');
  });

  it('stores each event once in the tenant’s blob space, however often it is emitted', async () => {
    const blobs = new MemoryBlobStore();
    const sink = new BlobRunEventSink(blobs);
    await sink.emit(event('contoso--r1:run.started'));
    await sink.emit(event('contoso--r1:run.started'));
    await sink.emit(event('contoso--r1:model.called:1'));
    const stored = await blobs.list('tenants/contoso/runs/contoso--r1/events/');
    expect(stored).toHaveLength(2);
  });

  it('is wired with real sinks in deployed environments (the run event log and the audit trail, not a no-op)', async () => {
    // The composition root builds process-wide deps at import: point it at this checkout first.
    const root = join(import.meta.dirname, '..', '..');
    Object.assign(process.env, { AGENTS_DIR: join(root, 'agents'), TENANT_CATALOG_FILE: join(root, 'tenants', 'tenants.local.yaml') });
    const { createDeps } = await import('../../shared/composition-root.js');
    const config = parseConfig({
      APP_ENVIRONMENT: 'prod',
      STORAGE_BLOB_ACCOUNT_URL: 'https://example.blob.core.windows.net',
      AZURE_OPENAI_ENDPOINT: 'https://example.openai.azure.com',
      AUTH_AUDIENCES: 'api://example',
      KEY_VAULT_URL: 'https://example.vault.azure.net',
      AGENTS_DIR: join(root, 'agents'),
    });
    const deps = createDeps(config, { blobs: new MemoryBlobStore(), tenants: { get: async () => undefined } });
    expect((deps.runtime.events as RunEventBus).names).toEqual(['blob', 'audit', 'usage', 'telemetry']);
  });
});
