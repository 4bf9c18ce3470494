import { z } from 'zod';
import type { TenantBlobSpace } from '../storage/blob-store.js';
import type { EgressOptions } from './egress-request.js';

/** What a tool execution may use. Everything is scoped to one tenant and one call. */
export interface ToolContext {
  tenantId: string;
  runId: string;
  callId: string;
  /** `${runId}:${callId}`: stable across retries and replays, for side-effect deduplication. */
  idempotencyKey: string;
  blobs: TenantBlobSpace;
  /**
   * The run's effective egress allow-list: the tenant's entries, limited to the deployment policy
   * (`host[:port]` or `*.suffix[:port]`, see egress-policy.ts).
   */
  egressAllowList: readonly string[];
  /**
   * How network tools reach hosts on that list: the environment's rules and the resolver. There is
   * no raw `fetch` here on purpose: every connection goes through egress-request.ts.
   */
  egress: EgressOptions;
  nowMs: () => number;
  signal: AbortSignal;
}

/** A typed tool: zod input (turned into JSON Schema for the model), bounded output. */
export interface ToolDefinition<Input = unknown> {
  name: string;
  description: string;
  input: z.ZodType<Input>;
  /** Largest serialised output handed back; bigger results are truncated with a marker. */
  outputMaxBytes: number;
  /** True when running twice would do something twice; such tools must honour idempotencyKey. */
  sideEffects: boolean;
  execute(input: Input, context: ToolContext): Promise<unknown>;
}

/** A tool failed in a way the model should hear about (not retried). */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly status = 400;
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** The JSON-serialisable result of one tool call, as the model will see it. */
export type ToolResult = { ok: true; output: unknown; truncated: boolean } | { ok: false; error: { code: string; message: string } };

/** A tool with its input type erased: what registries hold and activities call. */
export interface Tool {
  readonly name: string;
  readonly description: string;
  readonly sideEffects: boolean;
  readonly outputMaxBytes: number;
  spec(): ToolSpec;
  /**
   * Validates `rawArguments` and runs the tool. Invalid arguments and non-retryable tool errors
   * come back as `{ ok: false }` for the model; retryable failures are thrown so the one retry
   * layer (the Durable activity retry policy) handles them.
   */
  invoke(rawArguments: unknown, context: ToolContext): Promise<ToolResult>;
}

/** The function spec the model sees. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

function capOutput(output: unknown, maxBytes: number): { output: unknown; truncated: boolean } {
  const text = JSON.stringify(output ?? null);
  if (Buffer.byteLength(text) <= maxBytes) return { output, truncated: false };
  return { output: `${Buffer.from(text).subarray(0, maxBytes).toString('utf8')}…[truncated]`, truncated: true };
}

export function defineTool<Input>(definition: ToolDefinition<Input>): Tool {
  let cachedSpec: ToolSpec | undefined;
  return {
    name: definition.name,
    description: definition.description,
    sideEffects: definition.sideEffects,
    outputMaxBytes: definition.outputMaxBytes,
    spec(): ToolSpec {
      if (!cachedSpec) {
        const schema = z.toJSONSchema(definition.input, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
        delete schema['$schema'];
        cachedSpec = { name: definition.name, description: definition.description, parameters: schema };
      }
      return cachedSpec;
    },
    async invoke(rawArguments: unknown, context: ToolContext): Promise<ToolResult> {
      const parsed = definition.input.safeParse(rawArguments);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
        return { ok: false, error: { code: 'invalid_arguments', message: `invalid arguments for ${definition.name}: ${detail}` } };
      }
      try {
        const output = await definition.execute(parsed.data, context);
        return { ok: true, ...capOutput(output, definition.outputMaxBytes) };
      } catch (error) {
        const e = error as { name?: string; code?: string; message?: string; retryable?: boolean };
        // Errors that say they are not retryable (a ToolError, a ValidationError on a bad path...)
        // go back to the model; retrying them would fail the same way.
        if (e?.retryable === false) {
          return { ok: false, error: { code: e.code ?? 'tool_error', message: e.message ?? 'tool failed' } };
        }
        throw error;
      }
    },
  };
}
