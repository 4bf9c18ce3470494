import { DefaultAzureCredential } from '@azure/identity';
import { AgentCatalog } from './agents/agent-catalog.js';
import type { AgentRuntimeDeps } from './agent-runtime/agent-activities.js';
import { JsonLinesRunEventSink, type RunEventSink } from './agent-runtime/run-events.js';
import { parseConfig, type AppConfig } from './config.js';
import type { ModelClient } from './model/model-client.js';
import { createModelGateway, systemClock } from './model/model-gateway.js';
import { createAzureTokenProvider, createOpenAIModelClient } from './model/openai-model-client.js';
import { AzureBlobStore } from './storage/azure-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import { builtInTools } from './tools/built-in-tools.js';
import type { Tool } from './tools/tool.js';

/** Everything handlers need, built once per process. Tests pass overrides instead of mocking modules. */
export interface Deps {
  config: AppConfig;
  /** Milliseconds since the epoch; injectable so tests control time. */
  now: () => number;
  startedAtMs: number;
  version: string;
  catalog: AgentCatalog;
  runtime: AgentRuntimeDeps;
}

export interface DepsOverrides {
  now?: () => number;
  startedAtMs?: number;
  version?: string;
  catalog?: AgentCatalog;
  blobs?: BlobStore;
  modelClient?: ModelClient;
  events?: RunEventSink;
  tools?: readonly Tool[];
}

class NullRunEventSink implements RunEventSink {
  async emit(): Promise<void> {}
}

/**
 * The composition root (CONVENTIONS.md 3). Constructs clients without doing I/O: the first
 * request pays for connections, not module load.
 */
export function createDeps(config: AppConfig, overrides: DepsOverrides = {}): Deps {
  const now = overrides.now ?? (() => Date.now());
  const identity = config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {};
  const blobs =
    overrides.blobs ??
    new AzureBlobStore(
      config.blob.kind === 'identity'
        ? {
            kind: 'identity',
            accountUrl: config.blob.accountUrl,
            container: config.blob.container,
            credential: new DefaultAzureCredential(identity),
          }
        : { kind: 'connection-string', connectionString: config.blob.connectionString, container: config.blob.container },
    );
  const modelClient =
    overrides.modelClient ??
    (config.model.kind === 'azure'
      ? createOpenAIModelClient({
          kind: 'azure',
          endpoint: config.model.endpoint,
          apiVersion: config.model.apiVersion,
          tokenProvider: createAzureTokenProvider(identity),
        })
      : createOpenAIModelClient({ kind: 'openai-compatible', baseUrl: config.model.baseUrl }));
  const gateway = createModelGateway({
    clients: () => modelClient,
    clock: systemClock,
    circuit: { failureThreshold: config.modelGateway.failureThreshold, cooldownMs: config.modelGateway.cooldownMs },
    maxAttemptsPerDeployment: config.modelGateway.maxAttemptsPerDeployment,
    retryAfterCapMs: config.modelGateway.retryAfterCapMs,
  });
  const events = overrides.events ?? (config.runEventsFile ? new JsonLinesRunEventSink(config.runEventsFile) : new NullRunEventSink());
  const tools = new Map((overrides.tools ?? builtInTools).map((t) => [t.name, t]));
  const egress = config.egressAllowList;
  return {
    config,
    now,
    startedAtMs: overrides.startedAtMs ?? now(),
    version: overrides.version ?? '0.1.0',
    catalog: overrides.catalog ?? AgentCatalog.fromDirectory(config.agentsDir),
    runtime: {
      blobs,
      gateway,
      tools,
      events,
      nowMs: now,
      fetch: globalThis.fetch,
      egressAllowList: async () => egress,
    },
  };
}

/** The process-wide dependencies the registered functions use. Config errors stop the app here. */
export const deps: Deps = createDeps(parseConfig(process.env));
