import type { InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { startAgentRun } from '../agent-runtime/start-run.js';
import type { Deps } from '../composition-root.js';

/** The Service Bus door's message body (DESIGN.md section 3). */
export const AgentRequestSchema = z.object({
  tenantId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'tenantId must be a lower-case slug'),
  agent: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'agent must be a lower-case slug'),
  input: z.unknown(),
  idempotencyKey: z.string().min(1).max(128).optional(),
  correlationId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
  variables: z.record(z.string(), z.string().max(4096)).optional(),
});
export type AgentRequest = z.infer<typeof AgentRequestSchema>;

/** The message can never succeed; retrying it is pointless. */
export class AgentRequestInvalidError extends Error {
  override readonly name = 'AgentRequestInvalidError';
  readonly code = 'agent_request_invalid';
  readonly status = 400;
  readonly retryable = false;
}

/** Parses a queue message body (already JSON-decoded by the binding, or raw text). */
export function parseAgentRequest(body: unknown, maxBytes: number): AgentRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
  if (Buffer.byteLength(text) > maxBytes) {
    throw new AgentRequestInvalidError(`message body is over ${maxBytes} bytes`);
  }
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      throw new AgentRequestInvalidError('message body is not JSON');
    }
  }
  const parsed = AgentRequestSchema.safeParse(value);
  if (!parsed.success) {
    throw new AgentRequestInvalidError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

/**
 * `agent-requests` queue handler: validates the request and starts its agent run. The run id
 * comes from `idempotencyKey`, else the message id, so a redelivered message starts nothing
 * new. An invalid message throws a non-retryable error (the platform retries, then
 * dead-letters it); a transient failure throws so the message is redelivered.
 */
export function createAgentRequestHandler(deps: Pick<Deps, 'config' | 'catalog'>, getClient: (context: InvocationContext) => DurableClient) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const request = parseAgentRequest(message, deps.config.agentRequestMaxBytes);
    const messageId = String(context.triggerMetadata?.['messageId'] ?? context.invocationId);
    const started = await startAgentRun(getClient(context), deps.catalog, {
      tenantId: request.tenantId,
      agentId: request.agent,
      input: request.input,
      initiator: { kind: 'queue', id: messageId },
      correlationId: request.correlationId ?? messageId,
      idempotencyKey: request.idempotencyKey ?? `sb:${messageId}`,
      ...(request.variables ? { variables: request.variables } : {}),
    });
    context.log(`agent request ${messageId}: run ${started.runId} ${started.created ? 'started' : 'already exists'}`);
  };
}
