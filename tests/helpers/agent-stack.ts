import { join } from 'node:path';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import { startOfflineModel, type OfflineModel } from '../../devhost/local-services/offline-model/server.js';
import type { StorageOption } from '../../devhost/host/storage.js';
import { snapshotOf, AgentDefinitionSchema, type AgentSnapshot } from '../../shared/agents/agent-definition.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { eventually } from './eventually.js';

export const repoRoot = join(import.meta.dirname, '..', '..');

export interface AgentStack {
  devhost: Devhost;
  model: OfflineModel;
  azurite: AzuriteHandle;
  stop(): Promise<void>;
}

/**
 * The project app (compiled `dist/`) on an in-process devhost, with in-memory Azurite and the
 * offline model on loopback, wired through the app's settings. One per test file: the app's
 * composition root reads settings once per process.
 */
export async function startAgentStack(
  extraEnv: Record<string, string> = {},
  /** Devhost port (default 0: any) and storage (default memory; a file path also writes keys.json beside it). */
  host: { port?: number; storage?: StorageOption } = {},
): Promise<AgentStack> {
  const azurite = await startAzurite();
  const model = await startOfflineModel();
  Object.assign(process.env, {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    MODEL_BASE_URL: model.url,
    RUN_EVENTS_FILE: '',
    TELEMETRY_FILE: '',
    MODEL_CIRCUIT_COOLDOWN_MS: '60000',
    MODEL_RETRY_AFTER_CAP_MS: '50',
    TOOL_EGRESS_ALLOW_LIST: '127.0.0.1',
    ...extraEnv,
  });
  const devhost = await startDevhost({ appDir: repoRoot, port: host.port ?? 0, storage: host.storage ?? 'memory', logLevel: 'error' });
  return {
    devhost,
    model,
    azurite,
    async stop() {
      await devhost.stop();
      await model.stop();
      await azurite.stop();
    },
  };
}

/** A test agent: small limits and waits so tests never sleep for long. */
export function testAgent(overrides: Record<string, unknown> = {}): AgentSnapshot {
  const definition = AgentDefinitionSchema.parse({
    id: 'test-agent',
    version: 1,
    description: 'An agent for tests',
    systemPrompt: 'You are a test agent.',
    model: { deployments: ['primary', 'secondary'], timeoutMs: 5_000 },
    tools: [{ tool: 'http_request' }, { tool: 'current_time' }],
    limits: { maxTurns: 10, toolTimeoutMs: 2_000, toolRetryIntervalMs: 20, modelRetryIntervalMs: 20, approvalTimeoutMs: 60_000 },
    ...overrides,
  });
  return snapshotOf(definition, 'test');
}

let counter = 0;

export function runInput(agent: AgentSnapshot, message: string, extra: Partial<AgentRunInput> = {}): AgentRunInput {
  counter += 1;
  return {
    tenantId: 'contoso',
    runId: `contoso--test${String(counter).padStart(4, '0')}${Date.now().toString(36)}`,
    agent,
    input: { inline: message },
    variables: {},
    initiator: { kind: 'cli', id: 'tests' },
    correlationId: `corr-${counter}`,
    depth: 0,
    ...extra,
  };
}

export interface Status {
  runtimeStatus: string;
  output: unknown;
  customStatus: unknown;
  history?: { EventType?: string; [k: string]: unknown }[];
}

export class DurableApi {
  constructor(private readonly host: Devhost) {}

  #url(path: string, query = ''): string {
    return `${this.host.url}/runtime/webhooks/durabletask/${path}?code=${encodeURIComponent(this.host.keys.keys.masterKey)}${query}`;
  }

  async start(input: AgentRunInput): Promise<string> {
    const res = await fetch(this.#url(`orchestrators/agentRun/${encodeURIComponent(input.runId)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    if (res.status !== 202) throw new Error(`start failed: ${res.status} ${await res.text()}`);
    return input.runId;
  }

  async status(id: string, history = false): Promise<Status> {
    const res = await fetch(this.#url(`instances/${encodeURIComponent(id)}`, history ? '&showHistory=true&showHistoryOutput=true&showInput=true' : ''));
    return (await res.json()) as Status;
  }

  /** True when the instance exists (the status API answers 404 for one that does not). */
  async exists(id: string): Promise<boolean> {
    const res = await fetch(this.#url(`instances/${encodeURIComponent(id)}`));
    await res.arrayBuffer();
    return res.status !== 404;
  }

  async raise(id: string, event: string, body: unknown): Promise<void> {
    const res = await fetch(this.#url(`instances/${encodeURIComponent(id)}/raiseEvent/${event}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`raiseEvent failed: ${res.status}`);
  }

  async waitFor(id: string, predicate: (s: Status) => boolean, timeoutMs = 20_000): Promise<Status> {
    let last: Status | undefined;
    const probe = async (): Promise<Status | undefined> => {
      last = await this.status(id);
      return predicate(last) ? last : undefined;
    };
    return eventually(`instance ${id}`, probe, { timeoutMs, intervalMs: 15 }).catch(() => {
      throw new Error(`instance ${id} stuck: ${JSON.stringify(last)}`);
    });
  }

  done(id: string, timeoutMs?: number): Promise<Status> {
    return this.waitFor(id, (s) => ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus), timeoutMs);
  }
}
