import { join } from 'node:path';
import type { Clock } from '../../devhost/host/clock.js';
import type { HostServices } from '../../devhost/host/extension-types.js';
import { DURABLE_SYSTEM_KEY } from '../../devhost/host/function-keys.js';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import { withCode } from '../helpers/devhost-keys.js';
import { createDurableExtension, isDurableExtension, type DurableExtension } from '../../devhost/durable/index.js';
import type { InstanceRecord } from '../../devhost/durable/durable-store.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { eventually } from '../helpers/eventually.js';

export const durableAppDir = join(import.meta.dirname, '..', 'fixtures', 'durable-app');

/** The fixture app's process-wide probe (see tests/fixtures/durable-app/src/probe.js). */
export interface DurableProbe {
  attempts: Map<string, number>;
  gates: Map<string, { promise: Promise<void>; open: () => void }>;
  replayLog: { id: string; step: number; isReplaying: boolean; guid?: string; time?: string }[];
  running: number;
  maxRunning: number;
  variant: string;
}

export function probe(): DurableProbe {
  return (globalThis as unknown as { __durableProbe: DurableProbe }).__durableProbe;
}

/** Opens (creating if needed) the fixture's gate `key`. */
export function openGate(key: string): void {
  const p = probe();
  let entry = p.gates.get(key);
  if (!entry) {
    let open: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    entry = { promise, open };
    p.gates.set(key, entry);
  }
  entry.open();
}

export interface DurableHarness {
  host: Devhost;
  durable: DurableExtension;
  url: string;
  /** The Durable extension's system key (the durable HTTP API asks for it, or the master key). */
  systemKey: string;
  /** `url` with `code=<system key>`. */
  keyed(url: string): string;
  /** Starts through the public HTTP API; resolves with the instance id. */
  start(name: string, input?: unknown, instanceId?: string): Promise<string>;
  /** GET the status through the public HTTP API. */
  status(instanceId: string, query?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Waits (event-driven) for Completed/Failed/Terminated. */
  finished(instanceId: string, timeoutMs?: number): Promise<InstanceRecord>;
  /** Polls the status API every 5 ms until `predicate` holds. */
  until(instanceId: string, predicate: (body: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  raise(instanceId: string, event: string, data?: unknown): Promise<number>;
  /** Runs one DurableClient method inside a function (fixture `clientOps`). */
  client(op: string, ...args: unknown[]): Promise<{ ok: boolean; value?: unknown; error?: string }>;
  stop(): Promise<void>;
}

export interface DurableHarnessOptions {
  storage?: string;
  wrap?: (services: HostServices) => HostServices;
  logger?: DevhostLogger;
  /** Durable time (e.g. a `ManualClock`); default real time. */
  clock?: Clock;
}

export async function startDurableHarness(options: DurableHarnessOptions = {}): Promise<DurableHarness> {
  const host = await startDevhost({
    appDir: durableAppDir,
    port: 0,
    storage: options.storage ?? 'memory',
    logLevel: 'error',
    ...(options.logger ? { logger: options.logger } : {}),
    extensions: [(services) => createDurableExtension(options.wrap ? options.wrap(services) : services, options.clock ? { clock: options.clock } : {})],
  });
  const durable = host.extension(isDurableExtension);
  if (!durable) throw new Error('durable extension missing');
  const base = `${host.url}/runtime/webhooks/durabletask`;
  const systemKey = host.keys.systemKey(DURABLE_SYSTEM_KEY);
  const keyed = (url: string): string => withCode(url, systemKey);

  const harness: DurableHarness = {
    host,
    durable,
    url: host.url,
    systemKey,
    keyed,
    async start(name, input, instanceId) {
      const res = await fetch(keyed(`${base}/orchestrators/${name}${instanceId ? `/${instanceId}` : ''}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: input === undefined ? '' : JSON.stringify(input),
      });
      const body = (await res.json()) as { id?: string; ExceptionMessage?: string };
      if (res.status !== 202 || !body.id) throw new Error(`start ${name} failed: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    async status(instanceId, query = '') {
      const res = await fetch(keyed(`${base}/instances/${instanceId}${query}`));
      const text = await res.text();
      return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    },
    async finished(instanceId, timeoutMs = 10_000) {
      const record = await durable.engine.waitForTerminal(instanceId, timeoutMs);
      if (!record || !['Completed', 'Failed', 'Terminated'].includes(record.status)) {
        throw new Error(`instance ${instanceId} did not finish in ${timeoutMs} ms (status ${record?.status ?? 'unknown'})`);
      }
      return record;
    },
    async until(instanceId, predicate, timeoutMs = 10_000) {
      let last: Record<string, unknown> = {};
      const probe = async (): Promise<Record<string, unknown> | undefined> => {
        last = (await harness.status(instanceId, '?showHistory=true&showHistoryOutput=true')).body;
        return predicate(last) ? last : undefined;
      };
      return eventually(`instance ${instanceId}`, probe, { timeoutMs, intervalMs: 5 }).catch(() => {
        throw new Error(`condition not met for ${instanceId}: ${JSON.stringify(last)}`);
      });
    },
    async raise(instanceId, event, data) {
      const res = await fetch(keyed(`${base}/instances/${instanceId}/raiseEvent/${event}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(data ?? null),
      });
      await res.arrayBuffer();
      return res.status;
    },
    async client(op, ...args) {
      const res = await fetch(`${host.url}/api/client`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op, args }) });
      return (await res.json()) as { ok: boolean; value?: unknown; error?: string };
    },
    stop: () => host.stop(),
  };
  return harness;
}

/** The output of a finished instance, parsed. */
export function outputOf(record: InstanceRecord): unknown {
  return record.output === null ? null : (JSON.parse(record.output) as unknown);
}
