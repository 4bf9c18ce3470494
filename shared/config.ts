import { fileURLToPath } from 'node:url';
import { ProblemListError } from './errors.js';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from './tenancy/tenant.js';
import { invalidEgressEntries } from './tools/egress-policy.js';

/**
 * Application settings, parsed once at startup. Nothing else in the app reads `process.env`.
 * Local runs work with no configuration (every setting has a local default); deployed
 * environments (`dev`, `staging`, `prod`) must use identity-based connections: connection
 * strings are refused there, so no secret can sit in app settings.
 */

const DEFAULT_AGENTS_DIR = fileURLToPath(new URL('../../agents', import.meta.url));
const DEFAULT_TENANT_CATALOG_FILE = fileURLToPath(new URL('../../tenants/tenants.local.yaml', import.meta.url));
const DEFAULT_SCHEDULES_FILE = fileURLToPath(new URL('../../schedules/schedules.local.yaml', import.meta.url));
/** Bot Framework's OpenID metadata for tokens the channel service sends to bots. */
const BOT_FRAMEWORK_OPENID_METADATA_URL = 'https://login.botframework.com/v1/.well-known/openidconfiguration';
/** The devhost's development OpenID issuer (devhost/local-services/dev-token-issuer.ts): the local default authority. */
const LOCAL_DEV_AUTHORITY = 'http://127.0.0.1:7073';
const ENTRA_AUTHORITY = 'https://login.microsoftonline.com';
/** Audience the development issuer puts in tokens by default. */
export const LOCAL_DEV_AUDIENCE = 'api://durable-agent-pipeline-local';
const optionalString = z.string().trim().min(1).optional();
const csv = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const ConfigSchema = z
  .object({
    APP_ENVIRONMENT: z.enum(['local', 'dev', 'staging', 'prod']).default('local'),
    /** Queue the Service Bus door listens on. */
    AGENT_REQUESTS_QUEUE: z.string().min(1).max(260).default('agent-requests'),
    /** Upper bound on an agent request message body, in bytes. */
    AGENT_REQUEST_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .max(1024 * 1024)
      .default(256 * 1024),
    /** Azure: Service Bus namespace (`<name>.servicebus.windows.net`) for reply queues, reached with managed identity. */
    SERVICEBUS_FULLY_QUALIFIED_NAMESPACE: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9.-]+$/, 'must be a host name such as my-ns.servicebus.windows.net')
      .optional(),
    /** Local only: the devhost base URL whose queue admin API receives replies. */
    LOCAL_SERVICEBUS_ADMIN_URL: z.url().optional(),
    /** Local only: the devhost key file (`masterKey`) that authorizes the queue admin API. */
    LOCAL_SERVICEBUS_ADMIN_KEY_FILE: z.string().min(1).default('.devhost/keys.json'),
    /** Attempts (Durable retry policy) to publish one run's reply. */
    REPLY_PUBLISH_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
    /** First wait between reply publish attempts; doubles per attempt. */
    REPLY_PUBLISH_RETRY_INTERVAL_MS: z.coerce.number().int().min(1).max(600_000).default(2_000),
    /** Folder of agent definitions (`*.yaml`). */
    AGENTS_DIR: z.string().min(1).default(DEFAULT_AGENTS_DIR),
    /** Azure: the blob endpoint, reached with managed identity. */
    STORAGE_BLOB_ACCOUNT_URL: z.url().optional(),
    /** Local only (Azurite). Refused outside `local`. */
    STORAGE_CONNECTION_STRING: optionalString,
    STORAGE_CONTAINER: z
      .string()
      .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid container name')
      .default('agent-data'),
    /**
     * The audit trail's container (same account). Write-once blobs only, so in Azure it carries a
     * time-based immutability (WORM) policy (infra/modules/storage.bicep).
     */
    AUDIT_CONTAINER: z
      .string()
      .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid container name')
      .default('audit'),
    MODEL_PROVIDER: z.enum(['azure-openai', 'openai-compatible']).optional(),
    /** OpenAI-compatible base URL ending in /v1 (locally: the offline model). */
    MODEL_BASE_URL: z.url().optional(),
    AZURE_OPENAI_ENDPOINT: z.url().optional(),
    AZURE_OPENAI_API_VERSION: z.string().min(1).default('2024-10-21'),
    /** Client id of the user-assigned managed identity, when the app uses one. */
    AZURE_CLIENT_ID: optionalString,
    MODEL_CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).max(100).default(3),
    MODEL_CIRCUIT_COOLDOWN_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    MODEL_MAX_ATTEMPTS_PER_DEPLOYMENT: z.coerce.number().int().min(1).max(5).default(2),
    MODEL_RETRY_AFTER_CAP_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
    /**
     * Model calls one instance has in flight at once. Keep it below host.json's
     * `maxConcurrentActivityFunctions` (8): calls over it are refused and the run waits on a durable
     * timer, so hung model calls never hold every activity slot.
     */
    MODEL_MAX_CONCURRENT_CALLS: z.coerce.number().int().min(1).max(1_000).default(4),
    /** Local run-event log (JSON lines); empty disables it. */
    RUN_EVENTS_FILE: z.string().optional(),
    /**
     * The deployment-wide egress policy: the most any tenant's `egressAllowList` can open
     * (`host[:port]`, `*.suffix[:port]`; no port means 443). A run reaches only what both allow.
     */
    TOOL_EGRESS_ALLOW_LIST: csv,
    /** `multi`: vendor-hosted SaaS, tenant from the path; `single`: one configured tenant (managed application). */
    TENANCY_MODE: z.enum(['multi', 'single']).default('multi'),
    /** The one tenant in `single` mode. */
    SINGLE_TENANT_ID: z.string().regex(TENANT_ID_PATTERN, 'must be a lower-case tenant slug without "--"').optional(),
    /** Tenant catalog: `file` (local default) or `blob` (deployed default). */
    TENANT_CATALOG_SOURCE: z.enum(['file', 'blob']).optional(),
    TENANT_CATALOG_FILE: z.string().min(1).default(DEFAULT_TENANT_CATALOG_FILE),
    /** Blob folder of tenant records (`<prefix><tenantId>.yaml`), outside any tenant's own data space. */
    TENANT_CATALOG_BLOB_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/, 'must be a blob folder such as control-plane/tenants/')
      .default('control-plane/tenants/'),
    TENANT_CACHE_TTL_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
    /** How long each tenant's period token usage is reused per instance for budget checks (the overshoot bound, shared/usage/README.md). */
    BUDGET_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(15_000),
    /** Token authority; issuers are `<authority>/<tid>/v2.0`. Local: the devhost's development issuer. */
    AUTH_AUTHORITY: z.url().optional(),
    /** Accepted token audiences (comma-separated): the API's app id URI and/or client id. */
    AUTH_AUDIENCES: csv,
    /** JWKS endpoint; default `<authority>/common/discovery/v2.0/keys` (Entra's signing keys). */
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_CLOCK_SKEW_MS: z.coerce.number().int().min(0).max(300_000).default(60_000),
    AUTH_JWKS_CACHE_MAX_AGE_MS: z.coerce.number().int().min(60_000).max(86_400_000).default(600_000),
    /** Least time between two JWKS fetches (a token with an unknown key triggers one). */
    AUTH_JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
    /** Where secrets (webhook signing keys) come from: `local-file` (local default) or `key-vault` (deployed default). */
    SECRETS_PROVIDER: z.enum(['local-file', 'key-vault']).optional(),
    KEY_VAULT_URL: z.url().optional(),
    /** Local only: git-ignored file of generated development secrets. */
    LOCAL_SECRETS_FILE: z.string().min(1).default('.devhost/secrets.json'),
    SECRET_CACHE_TTL_MS: z.coerce.number().int().min(0).max(3_600_000).default(300_000),
    /** Largest accepted body on the HTTP doors (runs API, webhooks). */
    HTTP_MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .max(4 * 1024 * 1024)
      .default(256 * 1024),
    /** Front-door requests per minute per tenant and per instance, when the tenant sets none. */
    RATE_LIMIT_DEFAULT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(600),
    /** NCRONTAB (6 fields, with seconds) of the `batchScheduler` timer itself. */
    BATCH_SCHEDULER_SCHEDULE: z
      .string()
      .trim()
      .regex(/^\S+( \S+){5}$/, 'must be a 6-field NCRONTAB expression (with seconds)')
      .default('0 */1 * * * *'),
    /**
     * How late a schedule's slot may still be started. Must cover the scheduler's own period, so
     * no slot falls between two firings; larger values catch up after downtime.
     */
    BATCH_SCHEDULER_CATCH_UP_MS: z.coerce
      .number()
      .int()
      .min(1_000)
      .max(7 * 86_400_000)
      .default(300_000),
    /** Where schedules come from: `file` (local default) or `blob` (deployed default). */
    BATCH_SCHEDULES_SOURCE: z.enum(['file', 'blob']).optional(),
    BATCH_SCHEDULES_FILE: z.string().min(1).default(DEFAULT_SCHEDULES_FILE),
    /** Control-plane blob holding every schedule (outside any tenant's data space). */
    BATCH_SCHEDULES_BLOB: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a blob path such as control-plane/schedules.yaml')
      .default('control-plane/schedules.yaml'),
    /** The bot's Microsoft App ID: the audience of Bot Framework tokens. Unset: the bot door answers 404. */
    BOT_APP_ID: optionalString,
    /** Bot Framework OpenID metadata (its `jwks_uri` gives the signing keys). Tests point it at a loopback issuer. */
    BOT_OPENID_METADATA_URL: z.url().default(BOT_FRAMEWORK_OPENID_METADATA_URL),
    BOT_TOKEN_ISSUER: z.string().min(1).default('https://api.botframework.com'),
    BOT_CLOCK_SKEW_MS: z.coerce.number().int().min(0).max(600_000).default(300_000),
    /** How the app gets its token for the Bot Connector: `identity` (Entra, deployed default) or `static` (local only). */
    BOT_CONNECTOR_TOKEN_SOURCE: z.enum(['identity', 'static']).optional(),
    /** Local only: the token sent to a development connector. */
    BOT_CONNECTOR_STATIC_TOKEN: z.string().min(1).default('local-connector-token'),
    BOT_CONNECTOR_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
    /** Local telemetry file (OTLP/JSON lines); default `.devhost/telemetry.jsonl` locally, none deployed; empty disables it. */
    TELEMETRY_FILE: z.string().optional(),
    /** Record prompts, outputs, tool arguments and results in telemetry, for tenants whose record also opts in (`captureTelemetryContent`). */
    TELEMETRY_CAPTURE_CONTENT: z.enum(['true', 'false']).default('false'),
    /** Share of traces exported (0-1, by trace id); spans of failures are always exported. */
    TELEMETRY_SAMPLING_RATIO: z.coerce.number().min(0).max(1).default(1),
    /** How often buffered spans and logs are exported and metrics read, in milliseconds. */
    TELEMETRY_EXPORT_INTERVAL_MS: z.coerce.number().int().min(10).max(300_000).default(5_000),
    /** OTLP collector base URL (`/v1/traces`, `/v1/metrics`, `/v1/logs` are appended); unset: no OTLP export. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
    /** OTLP over HTTP: `http/protobuf` (default) or `http/json`. */
    OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
    /** `service.name` of everything this app exports. */
    OTEL_SERVICE_NAME: z.string().trim().min(1).max(200).default('durable-agent-pipeline'),
    /** Application Insights connection string (instrumentation key and endpoints; not a secret with Entra auth); unset: no Azure Monitor export. */
    APPLICATIONINSIGHTS_CONNECTION_STRING: optionalString,
    /** `Authorization=AAD` (system identity) or `Authorization=AAD;ClientId=<id>` (user-assigned): Entra auth for Application Insights. */
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: optionalString,
  })
  .superRefine(
    (raw, ctx) => {
      // Runs even when a key above failed (see `when`), so every bad key is listed at once; a key
      // that failed may then hold its raw string, so read values defensively.
      const c = raw as Partial<typeof raw>;
      const deployed = c.APP_ENVIRONMENT !== 'local';
      if (deployed && c.STORAGE_CONNECTION_STRING) {
        ctx.addIssue({ code: 'custom', path: ['STORAGE_CONNECTION_STRING'], message: 'connection strings are local-only; use STORAGE_BLOB_ACCOUNT_URL with managed identity' });
      }
      if (deployed && !c.STORAGE_BLOB_ACCOUNT_URL) {
        ctx.addIssue({ code: 'custom', path: ['STORAGE_BLOB_ACCOUNT_URL'], message: `required in ${c.APP_ENVIRONMENT}` });
      }
      const provider = c.MODEL_PROVIDER ?? (deployed ? 'azure-openai' : 'openai-compatible');
      if (provider === 'azure-openai' && !c.AZURE_OPENAI_ENDPOINT) {
        ctx.addIssue({ code: 'custom', path: ['AZURE_OPENAI_ENDPOINT'], message: 'required when MODEL_PROVIDER is azure-openai' });
      }
      if (provider === 'openai-compatible' && deployed && !c.MODEL_BASE_URL) {
        ctx.addIssue({ code: 'custom', path: ['MODEL_BASE_URL'], message: `required in ${c.APP_ENVIRONMENT} when MODEL_PROVIDER is openai-compatible` });
      }
      if (typeof c.TENANT_CATALOG_BLOB_PREFIX === 'string' && c.TENANT_CATALOG_BLOB_PREFIX.startsWith('tenants/')) {
        // tenants/{id}/ is each tenant's own data, which agents' tools may write.
        ctx.addIssue({ code: 'custom', path: ['TENANT_CATALOG_BLOB_PREFIX'], message: 'must be outside tenants/ (tenant data space)' });
      }
      if (c.TENANCY_MODE === 'single' && !c.SINGLE_TENANT_ID) {
        ctx.addIssue({ code: 'custom', path: ['SINGLE_TENANT_ID'], message: 'required when TENANCY_MODE is single' });
      }
      // Tokens are always validated; outside local the authority and keys must be reached over TLS.
      for (const key of ['AUTH_AUTHORITY', 'AUTH_JWKS_URL'] as const) {
        const value = c[key];
        if (deployed && typeof value === 'string' && !value.startsWith('https://')) {
          ctx.addIssue({ code: 'custom', path: [key], message: `must be https in ${c.APP_ENVIRONMENT}` });
        }
      }
      if (deployed && (c.AUTH_AUDIENCES?.length ?? 0) === 0) {
        ctx.addIssue({ code: 'custom', path: ['AUTH_AUDIENCES'], message: `required in ${c.APP_ENVIRONMENT} (the API's app id URI and/or client id)` });
      }
      if (deployed && typeof c.BOT_OPENID_METADATA_URL === 'string' && !c.BOT_OPENID_METADATA_URL.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['BOT_OPENID_METADATA_URL'], message: `must be https in ${c.APP_ENVIRONMENT}` });
      }
      if (deployed && c.BOT_CONNECTOR_TOKEN_SOURCE === 'static') {
        ctx.addIssue({ code: 'custom', path: ['BOT_CONNECTOR_TOKEN_SOURCE'], message: 'static is local-only; use identity' });
      }
      if (typeof c.BATCH_SCHEDULES_BLOB === 'string' && c.BATCH_SCHEDULES_BLOB.startsWith('tenants/')) {
        ctx.addIssue({ code: 'custom', path: ['BATCH_SCHEDULES_BLOB'], message: 'must be outside tenants/ (tenant data space)' });
      }
      if (deployed && c.LOCAL_SERVICEBUS_ADMIN_URL) {
        ctx.addIssue({ code: 'custom', path: ['LOCAL_SERVICEBUS_ADMIN_URL'], message: 'local-only; use SERVICEBUS_FULLY_QUALIFIED_NAMESPACE' });
      }
      const badEgress = Array.isArray(c.TOOL_EGRESS_ALLOW_LIST) ? invalidEgressEntries(c.TOOL_EGRESS_ALLOW_LIST, { local: !deployed }) : [];
      if (badEgress.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['TOOL_EGRESS_ALLOW_LIST'], message: `not host[:port] or *.suffix[:port]: ${badEgress.join(', ')}` });
      }
      const secrets = c.SECRETS_PROVIDER ?? (deployed ? 'key-vault' : 'local-file');
      if (deployed && secrets === 'local-file') {
        ctx.addIssue({ code: 'custom', path: ['SECRETS_PROVIDER'], message: 'local-file is local-only; use key-vault' });
      }
      if (deployed && c.APPLICATIONINSIGHTS_CONNECTION_STRING && !/Authorization=AAD/i.test(c.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '')) {
        ctx.addIssue({
          code: 'custom',
          path: ['APPLICATIONINSIGHTS_AUTHENTICATION_STRING'],
          message: `required in ${c.APP_ENVIRONMENT} with APPLICATIONINSIGHTS_CONNECTION_STRING: Authorization=AAD[;ClientId=<managed identity client id>] (Entra auth; local auth is off)`,
        });
      }
      if (secrets === 'key-vault' && !c.KEY_VAULT_URL) {
        ctx.addIssue({ code: 'custom', path: ['KEY_VAULT_URL'], message: 'required when SECRETS_PROVIDER is key-vault' });
      }
    },
    { when: () => true },
  );

/** Every setting the app reads (the keys of the schema), for documentation checks. */
export const CONFIG_SETTING_NAMES: readonly string[] = Object.keys(ConfigSchema.shape);

export type BlobConnectionConfig = { kind: 'identity'; accountUrl: string; container: string } | { kind: 'connection-string'; connectionString: string; container: string };

export type ModelConfig = { kind: 'azure'; endpoint: string; apiVersion: string } | { kind: 'openai-compatible'; baseUrl: string };

/** Telemetry export and policy (shared/telemetry/README.md). */
export interface TelemetryConfig {
  environment: string;
  serviceName: string;
  /** OTLP/JSON lines file; undefined: none. */
  file: string | undefined;
  otlp: { endpoint: string; protocol: 'http/protobuf' | 'http/json' } | undefined;
  /** `entraAuth`: authenticate with a managed identity / developer credential (`clientId` for a user-assigned one). */
  azureMonitor: { connectionString: string; entraAuth: boolean; clientId: string | undefined } | undefined;
  /** Environment half of the content opt-in; the tenant's flag is the other half. */
  captureContent: boolean;
  samplingRatio: number;
  exportIntervalMs: number;
}

export interface AppConfig {
  environment: 'local' | 'dev' | 'staging' | 'prod';
  agentRequestsQueue: string;
  agentRequestMaxBytes: number;
  /** How run results reach reply queues; `none`: requests naming a reply queue are dead-lettered. */
  replies: {
    transport: { kind: 'service-bus'; fullyQualifiedNamespace: string } | { kind: 'devhost'; adminUrl: string; keyFile: string } | { kind: 'none' };
    maxAttempts: number;
    retryIntervalMs: number;
  };
  agentsDir: string;
  /** Client id of the user-assigned managed identity; undefined: system-assigned or developer sign-in. */
  managedIdentityClientId: string | undefined;
  blob: BlobConnectionConfig;
  /** The audit trail's container, in the same account as `blob`. */
  auditContainer: string;
  model: ModelConfig;
  modelGateway: { failureThreshold: number; cooldownMs: number; maxAttemptsPerDeployment: number; retryAfterCapMs: number; maxConcurrentCalls: number };
  runEventsFile: string | undefined;
  telemetry: TelemetryConfig;
  egressAllowList: string[];
  tenancy: { mode: 'multi' } | { mode: 'single'; tenantId: string };
  tenantCatalog: { kind: 'file'; path: string } | { kind: 'blob'; prefix: string; cacheTtlMs: number };
  auth: {
    /** No trailing slash. Issuers are `${authority}/${tid}/v2.0`. */
    authority: string;
    audiences: string[];
    jwksUrl: string;
    clockSkewMs: number;
    jwksCacheMaxAgeMs: number;
    jwksCooldownMs: number;
  };
  secrets: { kind: 'local-file'; path: string } | { kind: 'key-vault'; vaultUrl: string; cacheTtlMs: number };
  frontDoor: { maxBodyBytes: number; defaultRateLimitPerMinute: number };
  /** Per-tenant token budgets (shared/usage/budget-gate.ts). */
  budget: { cacheTtlMs: number };
  batch: {
    /** NCRONTAB of the `batchScheduler` timer. */
    schedulerSchedule: string;
    catchUpMs: number;
    schedules: { kind: 'file'; path: string } | { kind: 'blob'; path: string };
  };
  bot: {
    /** Undefined: no bot is configured and `/api/messages` answers 404. */
    appId: string | undefined;
    openIdMetadataUrl: string;
    issuer: string;
    clockSkewMs: number;
    connectorToken: { kind: 'identity' } | { kind: 'static'; token: string };
    connectorTimeoutMs: number;
    /** Deployed environments only talk to https service URLs. */
    requireHttpsServiceUrl: boolean;
  };
}

/** A setting is missing or malformed. `problems` lists every bad key, not just the first. */
export class ConfigError extends ProblemListError {
  override readonly name = 'ConfigError';
  constructor(problems: readonly string[]) {
    super('config_invalid', 'Invalid configuration', problems);
  }
}

/** Parses settings from an environment map. Throws {@link ConfigError} listing every bad key. */
export function parseConfig(env: Readonly<Record<string, string | undefined>>): AppConfig {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  const c = result.data;
  const local = c.APP_ENVIRONMENT === 'local';
  const provider = c.MODEL_PROVIDER ?? (local ? 'openai-compatible' : 'azure-openai');
  const authority = (c.AUTH_AUTHORITY ?? (local ? LOCAL_DEV_AUTHORITY : ENTRA_AUTHORITY)).replace(/\/+$/, '');
  return {
    environment: c.APP_ENVIRONMENT,
    agentRequestsQueue: c.AGENT_REQUESTS_QUEUE,
    agentRequestMaxBytes: c.AGENT_REQUEST_MAX_BYTES,
    replies: {
      transport: c.SERVICEBUS_FULLY_QUALIFIED_NAMESPACE
        ? { kind: 'service-bus', fullyQualifiedNamespace: c.SERVICEBUS_FULLY_QUALIFIED_NAMESPACE }
        : c.LOCAL_SERVICEBUS_ADMIN_URL
          ? { kind: 'devhost', adminUrl: c.LOCAL_SERVICEBUS_ADMIN_URL, keyFile: c.LOCAL_SERVICEBUS_ADMIN_KEY_FILE }
          : { kind: 'none' },
      maxAttempts: c.REPLY_PUBLISH_MAX_ATTEMPTS,
      retryIntervalMs: c.REPLY_PUBLISH_RETRY_INTERVAL_MS,
    },
    agentsDir: c.AGENTS_DIR,
    managedIdentityClientId: c.AZURE_CLIENT_ID,
    blob: c.STORAGE_BLOB_ACCOUNT_URL
      ? { kind: 'identity', accountUrl: c.STORAGE_BLOB_ACCOUNT_URL, container: c.STORAGE_CONTAINER }
      : { kind: 'connection-string', connectionString: c.STORAGE_CONNECTION_STRING ?? 'UseDevelopmentStorage=true', container: c.STORAGE_CONTAINER },
    auditContainer: c.AUDIT_CONTAINER,
    model:
      provider === 'azure-openai'
        ? { kind: 'azure', endpoint: c.AZURE_OPENAI_ENDPOINT ?? '', apiVersion: c.AZURE_OPENAI_API_VERSION }
        : { kind: 'openai-compatible', baseUrl: c.MODEL_BASE_URL ?? 'http://127.0.0.1:7072/v1' },
    modelGateway: {
      failureThreshold: c.MODEL_CIRCUIT_FAILURE_THRESHOLD,
      cooldownMs: c.MODEL_CIRCUIT_COOLDOWN_MS,
      maxAttemptsPerDeployment: c.MODEL_MAX_ATTEMPTS_PER_DEPLOYMENT,
      retryAfterCapMs: c.MODEL_RETRY_AFTER_CAP_MS,
      maxConcurrentCalls: c.MODEL_MAX_CONCURRENT_CALLS,
    },
    runEventsFile: c.RUN_EVENTS_FILE === undefined ? (local ? '.devhost/run-events.jsonl' : undefined) : c.RUN_EVENTS_FILE || undefined,
    telemetry: {
      environment: c.APP_ENVIRONMENT,
      serviceName: c.OTEL_SERVICE_NAME,
      file: c.TELEMETRY_FILE === undefined ? (local ? '.devhost/telemetry.jsonl' : undefined) : c.TELEMETRY_FILE || undefined,
      otlp: c.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: c.OTEL_EXPORTER_OTLP_ENDPOINT, protocol: c.OTEL_EXPORTER_OTLP_PROTOCOL } : undefined,
      azureMonitor: c.APPLICATIONINSIGHTS_CONNECTION_STRING
        ? {
            connectionString: c.APPLICATIONINSIGHTS_CONNECTION_STRING,
            entraAuth: /Authorization=AAD/i.test(c.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? ''),
            clientId: /ClientId=([^;]+)/i.exec(c.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '')?.[1]?.trim() ?? c.AZURE_CLIENT_ID,
          }
        : undefined,
      captureContent: c.TELEMETRY_CAPTURE_CONTENT === 'true',
      samplingRatio: c.TELEMETRY_SAMPLING_RATIO,
      exportIntervalMs: c.TELEMETRY_EXPORT_INTERVAL_MS,
    },
    egressAllowList: c.TOOL_EGRESS_ALLOW_LIST,
    tenancy: c.TENANCY_MODE === 'single' ? { mode: 'single', tenantId: c.SINGLE_TENANT_ID ?? '' } : { mode: 'multi' },
    tenantCatalog:
      (c.TENANT_CATALOG_SOURCE ?? (local ? 'file' : 'blob')) === 'file'
        ? { kind: 'file', path: c.TENANT_CATALOG_FILE }
        : { kind: 'blob', prefix: c.TENANT_CATALOG_BLOB_PREFIX, cacheTtlMs: c.TENANT_CACHE_TTL_MS },
    auth: {
      authority,
      audiences: c.AUTH_AUDIENCES.length > 0 ? c.AUTH_AUDIENCES : [LOCAL_DEV_AUDIENCE],
      jwksUrl: c.AUTH_JWKS_URL ?? `${authority}/common/discovery/v2.0/keys`,
      clockSkewMs: c.AUTH_CLOCK_SKEW_MS,
      jwksCacheMaxAgeMs: c.AUTH_JWKS_CACHE_MAX_AGE_MS,
      jwksCooldownMs: c.AUTH_JWKS_COOLDOWN_MS,
    },
    secrets:
      (c.SECRETS_PROVIDER ?? (local ? 'local-file' : 'key-vault')) === 'local-file'
        ? { kind: 'local-file', path: c.LOCAL_SECRETS_FILE }
        : { kind: 'key-vault', vaultUrl: c.KEY_VAULT_URL ?? '', cacheTtlMs: c.SECRET_CACHE_TTL_MS },
    frontDoor: { maxBodyBytes: c.HTTP_MAX_BODY_BYTES, defaultRateLimitPerMinute: c.RATE_LIMIT_DEFAULT_PER_MINUTE },
    budget: { cacheTtlMs: c.BUDGET_CACHE_TTL_MS },
    batch: {
      schedulerSchedule: c.BATCH_SCHEDULER_SCHEDULE,
      catchUpMs: c.BATCH_SCHEDULER_CATCH_UP_MS,
      schedules:
        (c.BATCH_SCHEDULES_SOURCE ?? (local ? 'file' : 'blob')) === 'file' ? { kind: 'file', path: c.BATCH_SCHEDULES_FILE } : { kind: 'blob', path: c.BATCH_SCHEDULES_BLOB },
    },
    bot: {
      appId: c.BOT_APP_ID,
      openIdMetadataUrl: c.BOT_OPENID_METADATA_URL,
      issuer: c.BOT_TOKEN_ISSUER,
      clockSkewMs: c.BOT_CLOCK_SKEW_MS,
      connectorToken:
        (c.BOT_CONNECTOR_TOKEN_SOURCE ?? (local ? 'static' : 'identity')) === 'static' ? { kind: 'static', token: c.BOT_CONNECTOR_STATIC_TOKEN } : { kind: 'identity' },
      connectorTimeoutMs: c.BOT_CONNECTOR_TIMEOUT_MS,
      requireHttpsServiceUrl: !local,
    },
  };
}
