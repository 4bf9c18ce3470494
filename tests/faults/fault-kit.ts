import { expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { startOfflineModel, type OfflineModel } from '../../devhost/local-services/offline-model/server.js';
import { AgentDefinitionSchema, snapshotOf, type AgentSnapshot } from '../../shared/agents/agent-definition.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { readDevhostKeys, withCode } from '../helpers/devhost-keys.js';
import { repoRoot, spawnDevhost, type SpawnedDevhost } from '../helpers/spawn-devhost.js';
import { eventually } from '../helpers/eventually.js';
import { AuditLog } from '../../shared/audit/audit-log.js';
import { verifyAuditChain } from '../../shared/audit/audit-verify.js';
import { AzureBlobStore } from '../../shared/storage/azure-blob-store.js';

/**
 * Fault-injection kit: the compiled app on the devhost CLI as a child process (file-backed
 * state, so it can be killed and restarted), Azurite and the offline model beside it (fresh
 * tool-call ids, strict about tool messages, as Azure OpenAI). Everything on loopback.
 */
export interface FaultStack {
  azurite: AzuriteHandle;
  model: OfflineModel;
  container: ContainerClient;
  storage: string;
  /** Starts the devhost on the stack's database; `crashAfter` sets DEVHOST_CRASH_AFTER. */
  startHost(options?: { crashAfter?: string; env?: Record<string, string> }): Promise<Host>;
  stop(): Promise<void>;
}

export interface Host {
  spawned: SpawnedDevhost;
  url: string;
  /** Resolves with the signal when the process exits (a crash point ends it with SIGKILL). */
  exited: Promise<NodeJS.Signals | null>;
  api: DurableClient;
}

export interface RunStatus {
  runtimeStatus: string;
  output: unknown;
  customStatus: unknown;
}

/** The durable HTTP API of a spawned devhost, with its master key (read from keys.json beside its database). */
export class DurableClient {
  constructor(
    private readonly url: string,
    private readonly key: string,
  ) {}

  #url(path: string): string {
    return withCode(`${this.url}/runtime/webhooks/durabletask/${path}`, this.key);
  }

  async start(input: AgentRunInput): Promise<void> {
    const res = await fetch(this.#url(`orchestrators/agentRun/${encodeURIComponent(input.runId)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`start ${input.runId}: ${res.status} ${text}`);
  }

  async status(id: string): Promise<RunStatus | undefined> {
    const res = await fetch(this.#url(`instances/${encodeURIComponent(id)}`));
    if (res.status === 404) {
      await res.arrayBuffer();
      return undefined;
    }
    return (await res.json()) as RunStatus;
  }

  async raise(id: string, event: string, body: unknown): Promise<void> {
    const res = await fetch(this.#url(`instances/${encodeURIComponent(id)}/raiseEvent/${event}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    if (res.status >= 300) throw new Error(`raiseEvent ${id}: ${res.status}`);
  }

  /** Polls until `predicate` holds for every id (or `timeoutMs` passes: an error naming the stuck ones). */
  async waitAll(ids: readonly string[], predicate: (s: RunStatus | undefined) => boolean, timeoutMs = 60_000): Promise<Map<string, RunStatus>> {
    let stuck: [string, RunStatus | undefined][] = [];
    const probe = async (): Promise<Map<string, RunStatus> | undefined> => {
      const statuses = new Map<string, RunStatus | undefined>();
      for (const id of ids) statuses.set(id, await this.status(id));
      stuck = [...statuses].filter(([, s]) => !predicate(s));
      return stuck.length === 0 ? (statuses as Map<string, RunStatus>) : undefined;
    };
    return eventually(`${ids.length} runs`, probe, { timeoutMs, intervalMs: 50 }).catch(() => {
      throw new Error(`runs stuck: ${JSON.stringify(stuck.slice(0, 3))}`);
    });
  }
}

export const isDone = (s: RunStatus | undefined): boolean => s !== undefined && ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus);

export async function startFaultStack(env: Record<string, string> = {}): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), 'faults-'));
  const storage = join(dir, 'devhost.db');
  const azurite = await startAzurite();
  const model = await startOfflineModel();
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('agent-data');
  const baseEnv: Record<string, string> = {
    APP_ENVIRONMENT: 'local',
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    MODEL_BASE_URL: model.url,
    RUN_EVENTS_FILE: '',
    TELEMETRY_FILE: '',
    TOOL_EGRESS_ALLOW_LIST: '127.0.0.1',
    MODEL_RETRY_AFTER_CAP_MS: '0',
    ...env,
  };
  const hosts: Host[] = [];
  return {
    azurite,
    model,
    container,
    storage,
    async startHost(options = {}) {
      const spawned = await spawnDevhost(['--app', repoRoot, '--storage', storage, '--log-level', 'warn'], {
        ...baseEnv,
        ...options.env,
        DEVHOST_CRASH_AFTER: options.crashAfter ?? '',
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => {
        if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) resolve(spawned.child.signalCode);
        else spawned.child.once('exit', (_code, signal) => resolve(signal));
      });
      // keys.json exists once the host listens (it writes the file at start).
      const host = { spawned, url: spawned.url, exited, api: new DurableClient(spawned.url, readDevhostKeys(storage).masterKey) };
      hosts.push(host);
      return host;
    },
    async stop() {
      for (const host of hosts) if (host.spawned.child.exitCode === null && host.spawned.child.signalCode === null) await host.spawned.stop();
      await model.stop();
      await azurite.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface StoredMessage {
  role: string;
  content: string | null;
  toolCalls?: { id: string; name: string; arguments: string }[];
  toolCallId?: string;
}

/** A run's stored conversation, in order; throws when a position is missing. */
export async function conversationOf(container: ContainerClient, tenantId: string, runId: string): Promise<StoredMessage[]> {
  const prefix = `tenants/${tenantId}/runs/${runId}/conversation/`;
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
  names.sort();
  names.forEach((name, i) => {
    if (name !== `${prefix}${String(i).padStart(6, '0')}.json`) throw new Error(`run ${runId}: conversation position ${i} is missing (found ${name})`);
  });
  return Promise.all(names.map(async (name) => JSON.parse((await container.getBlockBlobClient(name).downloadToBuffer()).toString('utf8')) as StoredMessage));
}

export async function outboxOf(container: ContainerClient, tenantId: string, runId: string): Promise<string[]> {
  const prefix = `tenants/${tenantId}/outbox/${runId}/`;
  const ids: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) ids.push(blob.name.slice(prefix.length).replace(/\.json$/, ''));
  return ids.sort();
}

/**
 * Checks that a finished run's conversation is what an Azure OpenAI model would accept and what
 * the run executed: every assistant tool call answered by exactly one tool message right after
 * it, no tool message for a call not shown, every `send_reply` sent exactly once under the call
 * id the conversation shows.
 */
export async function expectConsistentRun(container: ContainerClient, tenantId: string, runId: string): Promise<{ turns: number; sends: number }> {
  const messages = await conversationOf(container, tenantId, runId);
  const problems: string[] = [];
  const sends: string[] = [];
  let turns = 0;
  for (let i = 0; i < messages.length; i += 1) {
    const m = messages[i] as StoredMessage;
    if (m.role !== 'assistant') continue;
    turns += 1;
    const calls = m.toolCalls ?? [];
    const answers = messages.slice(i + 1, i + 1 + calls.length);
    const expected = calls.map((c) => c.id).sort();
    const got = answers
      .filter((a) => a.role === 'tool')
      .map((a) => a.toolCallId ?? '')
      .sort();
    if (JSON.stringify(expected) !== JSON.stringify(got)) problems.push(`turn ${turns}: calls ${expected.join(',')} answered by ${got.join(',')}`);
    for (const call of calls) {
      if (call.name !== 'send_reply') continue;
      sends.push(call.id);
      const answer = answers.find((a) => a.toolCallId === call.id);
      const content = JSON.parse(answer?.content ?? '{}') as { queued?: boolean; error?: string };
      if (content.queued !== true && content.error === undefined) problems.push(`send_reply ${call.id}: the model saw ${answer?.content ?? '(nothing)'}`);
    }
  }
  if (messages.at(-1)?.role !== 'assistant' || (messages.at(-1)?.toolCalls?.length ?? 0) > 0) problems.push('the conversation does not end with an answer');
  const outbox = await outboxOf(container, tenantId, runId);
  const sentOk = sends.filter((id) => {
    const answer = messages.find((a) => a.toolCallId === id);
    return (JSON.parse(answer?.content ?? '{}') as { queued?: boolean }).queued === true;
  });
  if (JSON.stringify(outbox) !== JSON.stringify(sentOk.sort())) problems.push(`outbox ${outbox.join(',')} does not match the sends the conversation shows (${sentOk.join(',')})`);
  if (problems.length > 0) throw new Error(`run ${runId} is inconsistent:\n- ${problems.join('\n- ')}`);
  return { turns, sends: sentOk.length };
}

/** The suite's agent: asks for `send_reply` (a side effect) and `current_time` in turn 1, answers in turn 2. */
export function faultAgent(options: { deployment?: string; approval?: 'none' | 'required'; modelTimeoutMs?: number; limits?: Record<string, unknown> } = {}): AgentSnapshot {
  const deployment = options.deployment ?? 'gpt-4o-mini';
  return snapshotOf(
    AgentDefinitionSchema.parse({
      id: `fault-${deployment}`,
      version: 1,
      description: 'Replies to a customer with the current time',
      systemPrompt: 'You are a support agent.',
      model: { deployments: [deployment], timeoutMs: options.modelTimeoutMs ?? 10_000 },
      tools: [{ tool: 'send_reply', approval: options.approval ?? 'none' }, { tool: 'current_time' }],
      limits: { modelRetryIntervalMs: 200, toolRetryIntervalMs: 50, approvalTimeoutMs: 600_000, ...options.limits },
    }),
    'test',
  );
}

let runCounter = 0;
/** `n` run inputs for `snapshot` (tenant contoso), with unique run ids under `label`. */
export function faultRuns(n: number, snapshot: AgentSnapshot, label: string): AgentRunInput[] {
  return Array.from({ length: n }, () => {
    runCounter += 1;
    return {
      tenantId: 'contoso',
      runId: `contoso--${label}${String(runCounter).padStart(3, '0')}${Date.now().toString(36)}`,
      agent: snapshot,
      input: { inline: 'Send a reply to the customer with the current time' },
      variables: {},
      initiator: { kind: 'cli', id: 'faults' },
      correlationId: `${label}-${runCounter}`,
      depth: 0,
    } satisfies AgentRunInput;
  });
}

/**
 * The tenant's audit trail holds exactly one record per act of each run, although the devhost
 * died mid-run and steps ran again (activities are at-least-once), and its chain verifies.
 */
export async function expectAuditedOnce(connectionString: string, tenantId: string, runIds: readonly string[], perRun: Record<string, number>): Promise<void> {
  const records = new AzureBlobStore({ kind: 'connection-string', connectionString, container: 'audit' });
  const verification = await verifyAuditChain(records, tenantId);
  expect(verification.problem).toBeUndefined();
  const log = new AuditLog(records, new AzureBlobStore({ kind: 'connection-string', connectionString, container: 'agent-data' }));
  for (const runId of runIds) {
    const { items } = await log.page(tenantId, { limit: 100, runId, scanLimit: 100_000 });
    const ids = items.map((r) => r.actId);
    expect(new Set(ids).size, `${runId}: ${ids.join(', ')}`).toBe(ids.length);
    const counts: Record<string, number> = {};
    for (const r of items) counts[r.act] = (counts[r.act] ?? 0) + 1;
    expect(counts, runId).toEqual(perRun);
  }
}

/**
 * Each run's usage entries (shared/usage/): one per event that carries usage, never two for one
 * event id, with the counts in `perRun` and the tokens its audited model calls reported.
 */
export async function expectMeteredOnce(connectionString: string, tenantId: string, runIds: readonly string[], perRun: Record<string, number>): Promise<void> {
  const data = new AzureBlobStore({ kind: 'connection-string', connectionString, container: 'agent-data' });
  const log = new AuditLog(new AzureBlobStore({ kind: 'connection-string', connectionString, container: 'audit' }), data);
  const prefix = `tenants/${tenantId}/usage/hours/`;
  const entries: { eventId: string; increments: Record<string, number> }[] = [];
  for (let startAfter: string | undefined; ;) {
    const page = await data.list(prefix, 5_000, startAfter === undefined ? {} : { startAfter });
    for (const item of page) entries.push(JSON.parse(String(await data.get(item.path))) as (typeof entries)[number]);
    if (page.length < 5_000) break;
    startAfter = page[page.length - 1]?.path;
  }
  for (const runId of runIds) {
    const mine = entries.filter((e) => e.eventId.startsWith(`${runId}:`));
    const ids = mine.map((e) => e.eventId);
    expect(new Set(ids).size, `${runId}: ${ids.join(', ')}`).toBe(ids.length);
    const counts: Record<string, number> = {};
    let tokens = 0;
    for (const e of mine) {
      for (const [dimension, value] of Object.entries(e.increments)) {
        if (dimension.startsWith('tokens.')) tokens += value;
        else counts[dimension] = (counts[dimension] ?? 0) + value;
      }
    }
    expect(counts, runId).toEqual(perRun);
    const { items } = await log.page(tenantId, { limit: 100, runId, scanLimit: 100_000 });
    const audited = items.filter((r) => r.act === 'model.called').reduce((sum, r) => sum + Number(r.details['inputTokens'] ?? 0) + Number(r.details['outputTokens'] ?? 0), 0);
    expect(tokens, `${runId}: tokens`).toBe(audited);
    expect(tokens, `${runId}: tokens`).toBeGreaterThan(0);
  }
}
