import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import type { Deps } from '../composition-root.js';

/** The Service Bus door's message body (DESIGN.md section 3). */
export const AgentRequestSchema = z.object({
  tenantId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'tenantId must be a lower-case slug'),
  agent: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'agent must be a lower-case slug'),
  input: z.unknown(),
  idempotencyKey: z.string().min(1).max(128).optional(),
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
 * `agent-requests` queue handler. Validates the request and logs its acceptance. Starting the
 * agent run is wired in with the agent runtime; until then a valid message is only accepted.
 * An invalid message throws, so the platform retries and finally dead-letters it.
 */
export function createAgentRequestHandler(deps: Pick<Deps, 'config'>) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const request = parseAgentRequest(message, deps.config.agentRequestMaxBytes);
    context.log(
      `agent request accepted: tenant=${request.tenantId} agent=${request.agent} messageId=${String(context.triggerMetadata?.['messageId'] ?? '')}`,
    );
  };
}
