import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * Application settings, parsed once at startup. Nothing else in the app reads `process.env`.
 * Local runs work with no configuration (every setting has a local default); deployed
 * environments (`dev`, `staging`, `prod`) must use identity-based connections: connection
 * strings are refused there, so no secret can sit in app settings.
 */

const DEFAULT_AGENTS_DIR = fileURLToPath(new URL('../../agents', import.meta.url));
const optionalString = z.string().trim().min(1).optional();
const csv = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

const ConfigSchema = z
  .object({
    APP_ENVIRONMENT: z.enum(['local', 'dev', 'staging', 'prod']).default('local'),
    /** Queue the Service Bus door listens on. */
    AGENT_REQUESTS_QUEUE: z.string().min(1).max(260).default('agent-requests'),
    /** Upper bound on an agent request message body, in bytes. */
    AGENT_REQUEST_MAX_BYTES: z.coerce.number().int().positive().max(1024 * 1024).default(256 * 1024),
    /** Folder of agent definitions (`*.yaml`). */
    AGENTS_DIR: z.string().min(1).default(DEFAULT_AGENTS_DIR),
    /** Azure: the blob endpoint, reached with managed identity. */
    STORAGE_BLOB_ACCOUNT_URL: z.url().optional(),
    /** Local only (Azurite). Refused outside `local`. */
    STORAGE_CONNECTION_STRING: optionalString,
    STORAGE_CONTAINER: z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid container name').default('agent-data'),
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
    /** Local run-event log (JSON lines); empty disables it. */
    RUN_EVENTS_FILE: z.string().optional(),
    /** Hosts `http_request` may reach (exact or `*.suffix`), until tenants carry their own. */
    TOOL_EGRESS_ALLOW_LIST: csv,
  })
  .superRefine((c, ctx) => {
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
  });

export type BlobConnectionConfig =
  | { kind: 'identity'; accountUrl: string; container: string }
  | { kind: 'connection-string'; connectionString: string; container: string };

export type ModelConfig =
  | { kind: 'azure'; endpoint: string; apiVersion: string }
  | { kind: 'openai-compatible'; baseUrl: string };

export interface AppConfig {
  environment: 'local' | 'dev' | 'staging' | 'prod';
  agentRequestsQueue: string;
  agentRequestMaxBytes: number;
  agentsDir: string;
  /** Client id of the user-assigned managed identity; undefined: system-assigned or developer sign-in. */
  managedIdentityClientId: string | undefined;
  blob: BlobConnectionConfig;
  model: ModelConfig;
  modelGateway: { failureThreshold: number; cooldownMs: number; maxAttemptsPerDeployment: number; retryAfterCapMs: number };
  runEventsFile: string | undefined;
  egressAllowList: string[];
}

/** A setting is missing or malformed. `problems` lists every bad key, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'config_invalid';
  readonly status = 500;
  readonly retryable = false;
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
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
  return {
    environment: c.APP_ENVIRONMENT,
    agentRequestsQueue: c.AGENT_REQUESTS_QUEUE,
    agentRequestMaxBytes: c.AGENT_REQUEST_MAX_BYTES,
    agentsDir: c.AGENTS_DIR,
    managedIdentityClientId: c.AZURE_CLIENT_ID,
    blob: c.STORAGE_BLOB_ACCOUNT_URL
      ? { kind: 'identity', accountUrl: c.STORAGE_BLOB_ACCOUNT_URL, container: c.STORAGE_CONTAINER }
      : { kind: 'connection-string', connectionString: c.STORAGE_CONNECTION_STRING ?? 'UseDevelopmentStorage=true', container: c.STORAGE_CONTAINER },
    model:
      provider === 'azure-openai'
        ? { kind: 'azure', endpoint: c.AZURE_OPENAI_ENDPOINT ?? '', apiVersion: c.AZURE_OPENAI_API_VERSION }
        : { kind: 'openai-compatible', baseUrl: c.MODEL_BASE_URL ?? 'http://127.0.0.1:7072/v1' },
    modelGateway: {
      failureThreshold: c.MODEL_CIRCUIT_FAILURE_THRESHOLD,
      cooldownMs: c.MODEL_CIRCUIT_COOLDOWN_MS,
      maxAttemptsPerDeployment: c.MODEL_MAX_ATTEMPTS_PER_DEPLOYMENT,
      retryAfterCapMs: c.MODEL_RETRY_AFTER_CAP_MS,
    },
    runEventsFile: c.RUN_EVENTS_FILE === undefined ? (local ? '.devhost/run-events.jsonl' : undefined) : c.RUN_EVENTS_FILE || undefined,
    egressAllowList: c.TOOL_EGRESS_ALLOW_LIST,
  };
}
