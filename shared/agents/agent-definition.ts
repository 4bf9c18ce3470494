import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * Agent definitions live outside code (`agents/*.yaml`, plus per-tenant overrides). A run
 * resolves its agent once, at start, into an {@link AgentSnapshot} that travels in the
 * orchestration input, so replays and audits see exactly what ran.
 */

const Slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a lower-case slug');

export const ToolRefSchema = z.union([
  z.object({
    tool: Slug,
    /** `required`: the run waits for a human decision before the tool runs. */
    approval: z.enum(['none', 'required']).default('none'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(15 * 60_000)
      .optional(),
    maxAttempts: z.number().int().min(1).max(10).optional(),
  }),
  z.object({
    agent: Slug,
    description: z.string().min(1).max(1024).optional(),
    approval: z.enum(['none', 'required']).default('none'),
  }),
]);

export const LimitsSchema = z.object({
  maxTurns: z.number().int().min(1).max(500).default(10),
  maxTotalTokens: z.number().int().positive().default(200_000),
  toolTimeoutMs: z
    .number()
    .int()
    .positive()
    .max(15 * 60_000)
    .default(60_000),
  toolMaxAttempts: z.number().int().min(1).max(10).default(3),
  approvalTimeoutMs: z
    .number()
    .int()
    .positive()
    .max(30 * 24 * 3_600_000)
    .default(24 * 3_600_000),
  /**
   * Restart the orchestration with compact state every N turns to bound history. Every episode
   * replays the whole current history (and on Azure Storage loads it first), so short
   * generations are cheaper overall: `npm run bench:agent` measured about 6 ms of orchestration
   * overhead per turn with one 11-turn generation, 4-5 ms with 3-5 turns, 3-4 ms with 2, and
   * more again with 1 (a restart per turn).
   */
  continueAsNewEveryTurns: z.number().int().min(1).max(100).default(2),
  /** Messages or tool outputs larger than this are stored in Blob and passed by reference. */
  inlinePayloadMaxBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024)
    .default(16 * 1024),
  maxSubAgentDepth: z.number().int().min(0).max(5).default(2),
  /** Durable retry of a failed model call (after the gateway's own fallback): first wait, attempts. */
  modelRetryIntervalMs: z.number().int().min(10).max(600_000).default(5_000),
  modelMaxAttempts: z.number().int().min(1).max(5).default(3),
  /**
   * How long a run rides through a model outage (every deployment throttled, failing or timing
   * out, circuits open) before it fails with `model_unavailable`. The run waits on durable
   * timers meanwhile (the gateway's Retry-After, else backoff from `modelRetryIntervalMs` up to
   * a minute), holding no activity slot. Azure OpenAI throttles for minutes under load.
   */
  modelOutageToleranceMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3_600_000)
    .default(10 * 60_000),
  /** First wait before a failed tool call is retried (doubles each time). */
  toolRetryIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
});

export const ModelPolicySchema = z.object({
  /** Ordered: the gateway falls back to the next on 429, 5xx or timeout. */
  deployments: z.array(z.string().min(1).max(128)).min(1).max(8),
  temperature: z.number().min(0).max(2).optional(),
  maxOutputTokens: z.number().int().positive().max(128_000).optional(),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(10 * 60_000)
    .default(60_000),
});

export const AgentDefinitionSchema = z.object({
  id: Slug,
  version: z.number().int().positive(),
  description: z.string().min(1).max(2048),
  systemPrompt: z
    .string()
    .min(1)
    .max(64 * 1024),
  /** Template variables (`{{name}}`) with their defaults; a run may supply values. */
  variables: z.record(z.string(), z.string().max(4096)).default({}),
  model: ModelPolicySchema,
  tools: z.array(ToolRefSchema).max(64).default([]),
  limits: LimitsSchema.default(LimitsSchema.parse({})),
});

export type AgentDefinition = z.infer<typeof AgentDefinitionSchema>;
export type ToolRef = z.infer<typeof ToolRefSchema>;
export type AgentLimits = z.infer<typeof LimitsSchema>;

/** A resolved, immutable agent as one run sees it. JSON-serialisable. */
export interface AgentSnapshot {
  definition: AgentDefinition;
  /** sha256 of the canonical JSON of `definition`, so audits can prove what ran. */
  contentHash: string;
  /** Where it came from: `catalog`, or `tenant:<id>` when a tenant override applied. */
  source: string;
}

/** Canonical JSON: keys sorted, so equal definitions hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function snapshotOf(definition: AgentDefinition, source: string): AgentSnapshot {
  return { definition, contentHash: createHash('sha256').update(canonical(definition)).digest('hex'), source };
}

/** Fills `{{name}}` placeholders; unknown names are an error, not silent blanks. */
export function renderPrompt(template: string, variables: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g, (_m, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`prompt variable "${name}" has no value`);
    return value;
  });
}
