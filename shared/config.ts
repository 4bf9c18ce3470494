import { z } from 'zod';

/**
 * Application settings, parsed once at startup. Nothing else in the app reads `process.env`.
 * Every setting has a safe local default so `npm start` runs with no configuration; production
 * values come from the Function App's settings (see infra/), never from code.
 */
const ConfigSchema = z.object({
  APP_ENVIRONMENT: z.enum(['local', 'dev', 'staging', 'prod']).default('local'),
  /** Queue the Service Bus door listens on. */
  AGENT_REQUESTS_QUEUE: z.string().min(1).max(260).default('agent-requests'),
  /** Upper bound on an agent request message body, in bytes. */
  AGENT_REQUEST_MAX_BYTES: z.coerce.number().int().positive().max(1024 * 1024).default(256 * 1024),
});

export type AppConfig = {
  environment: z.infer<typeof ConfigSchema>['APP_ENVIRONMENT'];
  agentRequestsQueue: string;
  agentRequestMaxBytes: number;
};

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
  return {
    environment: c.APP_ENVIRONMENT,
    agentRequestsQueue: c.AGENT_REQUESTS_QUEUE,
    agentRequestMaxBytes: c.AGENT_REQUEST_MAX_BYTES,
  };
}
