import { DefaultAzureCredential } from '@azure/identity';
import { AgentCatalog } from './agents/agent-catalog.js';
import type { AgentRuntimeDeps } from './agent-runtime/agent-activities.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditRunEventSink } from './audit/audit-sink.js';
import { BlobRunEventSink, JsonLinesRunEventSink, RunEventBus, type RunEventSink } from './agent-runtime/run-events.js';
import { parseConfig, type AppConfig } from './config.js';
import type { ModelClient } from './model/model-client.js';
import { createModelGateway, systemClock } from './model/model-gateway.js';
import { createAzureTokenProvider, createOpenAIModelClient } from './model/openai-model-client.js';
import { AzureBlobStore, REQUEST_PATH_RETRY, type BlobStoreConnection } from './storage/azure-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import { createEntraTokenVerifier, remoteSigningKeys, type AccessTokenVerifier } from './auth/entra-token-verifier.js';
import { KeyVaultSecretProvider } from './auth/key-vault-secret-provider.js';
import { LocalFileSecretProvider } from './auth/local-file-secret-provider.js';
import { CachingSecretProvider, type SecretProvider } from './auth/secret-provider.js';
import { TokenBucketRateLimiter, type RateLimiter } from './http/rate-limiter.js';
import { DevhostQueueReplyPublisher, ServiceBusReplyPublisher, UnconfiguredReplyPublisher, type ReplyPublisher } from './queue/reply-publisher.js';
import { BlobTenantDirectory, SingleTenantDirectory, loadTenantCatalogFile, type TenantDirectory } from './tenancy/tenant-directory.js';
import { TenantCatalogError } from './tenancy/tenant.js';
import { builtInTools } from './tools/built-in-tools.js';
import { effectiveEgressAllowList } from './tools/egress-policy.js';
import { systemResolver } from './tools/egress-request.js';
import { BlobScheduleSource, FileScheduleSource, type ScheduleSource } from './batch/schedule.js';
import { createBotTokenVerifier, type BotTokenVerifier } from './bot/bot-token-verifier.js';
import { createConnectorClient, credentialBotTokenProvider, staticBotTokenProvider, type ConnectorClient } from './bot/connector-client.js';
import type { Tool } from './tools/tool.js';
import { contentPolicy } from './telemetry/content-policy.js';
import { instruments } from './telemetry/instruments.js';
import { RunTelemetrySink } from './telemetry/run-telemetry-sink.js';
import { startTelemetry, type TelemetryRuntime } from './telemetry/telemetry-sdk.js';
import { appLog } from './telemetry/app-log.js';
import { UsageLedger } from './usage/usage-ledger.js';
import { TenantBudget } from './usage/budget-gate.js';

/**
 * Everything handlers need, built once per process, read-only. Each feature declares the slice it
 * needs (`Pick<Deps, ...>`); tests pass overrides to `createDeps` instead of mocking modules.
 */
export interface Deps {
  readonly config: AppConfig;
  /** Milliseconds since the epoch; injectable so tests control time. */
  readonly now: () => number;
  readonly startedAtMs: number;
  readonly version: string;
  readonly catalog: AgentCatalog;
  /** The blob store for HTTP request paths: bounded SDK retry, so outages answer 503 promptly. */
  readonly requestBlobs: BlobStore;
  readonly runtime: AgentRuntimeDeps;
  /** Tenant records (control plane); in single mode only the configured tenant resolves. */
  readonly tenants: TenantDirectory;
  /** Entra ID access tokens for the runs API. */
  readonly tokens: AccessTokenVerifier;
  /** Webhook signing secrets by name. */
  readonly secrets: SecretProvider;
  /** Per-tenant request budget, per instance. */
  readonly rateLimiter: RateLimiter;
  /** Publishes queued runs' results to their reply queues. */
  readonly replies: ReplyPublisher;
  /** Batch schedules (control plane), read by the `batchScheduler` timer. */
  readonly schedules: ScheduleSource;
  /** Bot Framework tokens for `/api/messages`; undefined when no bot app id is configured. */
  readonly botTokens: BotTokenVerifier | undefined;
  /** Posts replies into bot conversations. */
  readonly botConnector: ConnectorClient;
  /** The tenants' audit trails (shared/audit/). */
  readonly audit: AuditLog;
  /** The process's telemetry SDK (exporters in use, flush, shutdown). */
  readonly telemetry: TelemetryRuntime;
  /** The tenants' usage ledgers (shared/usage/): hourly buckets per dimension, fed by the run-event bus. */
  readonly usage: UsageLedger;
  /** Per-tenant token budgets: the admission path's budget gate (every door) over cached period usage. */
  readonly budget: TenantBudget;
}

export interface DepsOverrides {
  now?: () => number;
  startedAtMs?: number;
  version?: string;
  catalog?: AgentCatalog;
  blobs?: BlobStore;
  modelClient?: ModelClient;
  events?: RunEventSink;
  audit?: AuditLog;
  /** The audit container's store (tests: a separate memory store to tamper with). */
  auditBlobs?: BlobStore;
  tools?: readonly Tool[];
  tenants?: TenantDirectory;
  tokens?: AccessTokenVerifier;
  secrets?: SecretProvider;
  rateLimiter?: RateLimiter;
  replies?: ReplyPublisher;
  schedules?: ScheduleSource;
  botTokens?: BotTokenVerifier;
  botConnector?: ConnectorClient;
  telemetry?: TelemetryRuntime;
  usage?: UsageLedger;
  budget?: TenantBudget;
}

/**
 * The composition root (CONVENTIONS.md 3). Constructs clients without doing I/O: the first
 * request pays for connections, not module load.
 */
export function createDeps(config: AppConfig, overrides: DepsOverrides = {}): Deps {
  const now = overrides.now ?? (() => Date.now());
  const identity = config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {};
  // First, so every client below is built under the registered providers.
  const telemetryClientId = config.telemetry.azureMonitor?.clientId;
  const telemetry =
    overrides.telemetry ?? startTelemetry(config.telemetry, () => new DefaultAzureCredential(telemetryClientId ? { managedIdentityClientId: telemetryClientId } : {}));
  const blobConnection: BlobStoreConnection =
    config.blob.kind === 'identity'
      ? { kind: 'identity', accountUrl: config.blob.accountUrl, container: config.blob.container, credential: new DefaultAzureCredential(identity) }
      : { kind: 'connection-string', connectionString: config.blob.connectionString, container: config.blob.container };
  // Activities keep the SDK's own retries (Durable retries them too); HTTP doors use a short,
  // bounded policy so a storage outage is a prompt 503, not a 500 after ~16 s.
  const blobs = overrides.blobs ?? new AzureBlobStore(blobConnection);
  // The audit trail: its own container (write-once blobs, WORM in Azure); its head hint in the data container.
  const audit = overrides.audit ?? new AuditLog(overrides.auditBlobs ?? overrides.blobs ?? new AzureBlobStore({ ...blobConnection, container: config.auditContainer }), blobs);
  const requestBlobs = overrides.blobs ?? new AzureBlobStore(blobConnection, REQUEST_PATH_RETRY);
  // The usage ledger lives in the tenants' spaces of the data container; the bus records into it
  // with the activities' store (SDK retries), the usage API reads it with the request-path store.
  const usage = overrides.usage ?? new UsageLedger(blobs, { now });
  const usageReader = overrides.usage ?? new UsageLedger(requestBlobs, { now });
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
    maxConcurrentCalls: config.modelGateway.maxConcurrentCalls,
    onCircuitOpened: (deployment) => instruments().circuitOpenings.add(1, { 'app.model.deployment': deployment }),
  });
  // The run-event bus: the run's own log in the tenant's Blob space everywhere (required: an
  // event that cannot be stored fails the activity, which retries), plus the local JSON-lines
  // file for development. Telemetry, audit and metering subscribe here.
  const events =
    overrides.events ??
    new RunEventBus(
      [
        { name: 'blob', sink: new BlobRunEventSink(blobs), required: true },
        // Required: an act that cannot be recorded fails the activity, which retries (recorded once).
        { name: 'audit', sink: new AuditRunEventSink(audit, blobs), required: true },
        // Required: usage that cannot be recorded fails the activity, which retries (counted once).
        { name: 'usage', sink: usage, required: true },
        ...(config.runEventsFile ? [{ name: 'jsonl', sink: new JsonLinesRunEventSink(config.runEventsFile) }] : []),
        { name: 'telemetry', sink: new RunTelemetrySink() },
      ],
      (subscriber, error) => appLog('warn', 'run events: a subscriber failed', { subscriber, 'error.type': (error as Error)?.name ?? 'Error' }),
    );
  const tools = new Map((overrides.tools ?? builtInTools).map((t) => [t.name, t]));
  const tenants = overrides.tenants ?? createTenantDirectory(config, requestBlobs, now);
  const tokens =
    overrides.tokens ??
    createEntraTokenVerifier({
      authority: config.auth.authority,
      audiences: config.auth.audiences,
      clockSkewMs: config.auth.clockSkewMs,
      keys: remoteSigningKeys(config.auth.jwksUrl, { cacheMaxAgeMs: config.auth.jwksCacheMaxAgeMs, cooldownMs: config.auth.jwksCooldownMs }),
      now,
    });
  const secrets =
    overrides.secrets ??
    // Cached for both sources: the local file was otherwise read and parsed on every webhook.
    new CachingSecretProvider(
      config.secrets.kind === 'key-vault'
        ? new KeyVaultSecretProvider(config.secrets.vaultUrl, new DefaultAzureCredential(identity))
        : new LocalFileSecretProvider(config.secrets.path),
      // Local secrets never change once generated, so any TTL is safe there.
      config.secrets.kind === 'key-vault' ? config.secrets.cacheTtlMs : 300_000,
      now,
    );
  // A run may reach what its tenant lists, and only what the deployment policy also allows.
  const egress = { local: config.environment === 'local', resolve: systemResolver };
  // One cache of period usage per process, shared by admission (every door) and the callModel activity.
  const budget = overrides.budget ?? new TenantBudget({ usage: usageReader, tenants, now, cacheTtlMs: config.budget.cacheTtlMs });
  const egressAllowList = async (tenantId: string): Promise<readonly string[]> =>
    effectiveEgressAllowList((await tenants.get(tenantId))?.egressAllowList ?? [], config.egressAllowList, egress);
  return {
    config,
    now,
    startedAtMs: overrides.startedAtMs ?? now(),
    version: overrides.version ?? '0.1.0',
    catalog: overrides.catalog ?? AgentCatalog.fromDirectory(config.agentsDir),
    requestBlobs,
    runtime: {
      blobs,
      gateway,
      tools,
      events,
      nowMs: now,
      budget,
      egress,
      egressAllowList,
      telemetry: {
        providerName: config.model.kind === 'azure' ? 'azure.ai.openai' : 'openai',
        content: contentPolicy(config.telemetry.captureContent, async (tenantId) => (await tenants.get(tenantId))?.captureTelemetryContent === true),
      },
    },
    tenants,
    tokens,
    secrets,
    audit,
    rateLimiter: overrides.rateLimiter ?? new TokenBucketRateLimiter(now),
    replies: overrides.replies ?? createReplyPublisher(config, identity),
    schedules:
      overrides.schedules ??
      (config.batch.schedules.kind === 'file' ? new FileScheduleSource(config.batch.schedules.path) : new BlobScheduleSource(blobs, config.batch.schedules.path)),
    botTokens:
      overrides.botTokens ??
      (config.bot.appId
        ? createBotTokenVerifier({
            openIdMetadataUrl: config.bot.openIdMetadataUrl,
            issuer: config.bot.issuer,
            appId: config.bot.appId,
            clockSkewMs: config.bot.clockSkewMs,
            now,
          })
        : undefined),
    botConnector:
      overrides.botConnector ??
      createConnectorClient({
        tokens:
          config.bot.connectorToken.kind === 'static' ? staticBotTokenProvider(config.bot.connectorToken.token) : credentialBotTokenProvider(new DefaultAzureCredential(identity)),
        timeoutMs: config.bot.connectorTimeoutMs,
        requireHttps: config.bot.requireHttpsServiceUrl,
      }),
    telemetry,
    usage: usageReader,
    budget,
  };
}

/** Service Bus with managed identity in Azure; the devhost's queue API locally; else refuse. */
function createReplyPublisher(config: AppConfig, identity: { managedIdentityClientId?: string }): ReplyPublisher {
  const transport = config.replies.transport;
  if (transport.kind === 'service-bus') return new ServiceBusReplyPublisher(transport.fullyQualifiedNamespace, new DefaultAzureCredential(identity));
  if (transport.kind === 'devhost') return new DevhostQueueReplyPublisher(transport.adminUrl, transport.keyFile);
  return new UnconfiguredReplyPublisher();
}

/**
 * The tenant directory for this deployment. The local file is read here, once, so a bad file
 * stops the app listing every problem; Blob records are read on demand and cached.
 */
function createTenantDirectory(config: AppConfig, blobs: BlobStore, now: () => number): TenantDirectory {
  const { tenantCatalog, tenancy } = config;
  let source: TenantDirectory;
  if (tenantCatalog.kind === 'file') {
    const file = loadTenantCatalogFile(tenantCatalog.path);
    if (tenancy.mode === 'single' && !file.ids().includes(tenancy.tenantId)) {
      throw new TenantCatalogError([`${tenantCatalog.path}: SINGLE_TENANT_ID "${tenancy.tenantId}" is not in the catalog`]);
    }
    source = file;
  } else {
    source = new BlobTenantDirectory(blobs, { prefix: tenantCatalog.prefix, cacheTtlMs: tenantCatalog.cacheTtlMs, now });
  }
  return tenancy.mode === 'single' ? new SingleTenantDirectory(source, tenancy.tenantId) : source;
}

/** The process-wide dependencies the registered functions use. Config errors stop the app here. */
export const deps: Deps = createDeps(parseConfig(process.env));
