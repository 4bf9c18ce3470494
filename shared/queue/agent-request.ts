import type { InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { startAgentRun } from '../agent-runtime/start-run.js';
import type { Deps } from '../composition-root.js';
import { ForbiddenError, isAppErrorShape } from '../errors.js';
import { resolveActiveTenant } from '../tenancy/tenant-directory.js';
import { replyQueueAllowed } from '../tenancy/tenant.js';
import type { ReplyTarget } from './reply-types.js';

/** Service Bus entity names: letters, digits, `.`, `-`, `_`, `/`; at most 260 characters. */
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$/;

/** The Service Bus door's message body (DESIGN.md section 3). */
export const AgentRequestSchema = z.object({
  tenantId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'tenantId must be a lower-case slug'),
  agent: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'agent must be a lower-case slug'),
  input: z.unknown(),
  idempotencyKey: z.string().min(1).max(128).optional(),
  correlationId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
  variables: z.record(z.string(), z.string().max(4096)).optional(),
  /** Queue to publish the result to when the run ends (else the message's ReplyTo property). */
  replyTo: z.string().regex(QUEUE_NAME, 'replyTo must be a Service Bus queue name').optional(),
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

/** Dead-letter reasons this door uses (the `DeadLetterReason` property callers and alerts see). */
export const DeadLetterReasons = {
  /** The body is not JSON, too large, or fails the schema. */
  invalid: 'InvalidAgentRequest',
  /** Valid, but refused for good (unknown tenant or agent, reply queue not allowed or unavailable). */
  rejected: 'AgentRequestRejected',
} as const;

/**
 * The message as `@azure/functions-extensions-servicebus` hands it over (a
 * `ServiceBusReceivedMessage`; only the fields this door reads).
 */
export interface ReceivedQueueMessage {
  body: unknown;
  messageId?: string | number | Buffer | undefined;
  replyTo?: string | undefined;
  deliveryCount?: number | undefined;
}

/**
 * A `google.protobuf.StringValue`. The package (0.2.0-preview) declares the dead-letter reason and
 * description as `string` but passes them unchanged into a gRPC request whose proto fields are
 * StringValue wrappers, so a plain string fails client-side with "Request message serialization
 * failure: .DeadletterRequest.deadletterReason: object expected". The wrapper form is what its own
 * proto (and the host's Settlement service) expects.
 */
export interface StringValue {
  value: string;
}

/**
 * Settlement as the package's `ServiceBusMessageActions` offers it (positional arguments, as in
 * the package). Declared here so the app's types do not depend on the preview package's.
 */
export interface QueueMessageActions<M> {
  complete(message: M): Promise<void>;
  deadletter(message: M, propertiesToModify?: Uint8Array, deadletterReason?: StringValue, deadletterErrorDescription?: StringValue): Promise<void>;
}

/** What an SDK-type (`sdkBinding: true`) Service Bus trigger passes as its first argument. */
export interface QueueMessageContext<M extends ReceivedQueueMessage = ReceivedQueueMessage> {
  messages: M | M[];
  actions: QueueMessageActions<M>;
}

function isQueueMessageContext(value: unknown): value is QueueMessageContext {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const actions = v['actions'] as Record<string, unknown> | undefined;
  return v['messages'] !== undefined && typeof actions?.['complete'] === 'function' && typeof actions['deadletter'] === 'function';
}

function messageIdText(id: ReceivedQueueMessage['messageId']): string | undefined {
  if (id === undefined) return undefined;
  return Buffer.isBuffer(id) ? id.toString('hex') : String(id);
}

/**
 * `agent-requests` queue handler, for a trigger registered with `sdkBinding: true` and
 * `autoCompleteMessages: false`: it settles every message itself.
 *
 * - Valid: starts the run (id from `idempotencyKey`, else the message id, so a redelivered or
 *   duplicated message starts nothing new), then completes the message.
 * - Invalid, or refused for good (error with `retryable: false`): dead-lettered at once with a
 *   reason ({@link DeadLetterReasons}) and a description; never completed silently, and no
 *   deliveries are spent on it.
 * - Anything else (Durable client, storage): thrown without settling, so the host abandons the
 *   message and Service Bus redelivers it (dead-lettering it after maxDeliveryCount).
 *
 * With a reply queue (`replyTo` in the body, else the message's ReplyTo), the run goes through
 * `queuedAgentRun`, which publishes the result there when the run ends.
 */
export function createAgentRequestHandler(deps: Pick<Deps, 'config' | 'catalog' | 'tenants'>, getClient: (context: InvocationContext) => DurableClient) {
  return async (trigger: unknown, context: InvocationContext): Promise<void> => {
    if (!isQueueMessageContext(trigger)) {
      throw new Error('agentRequests expects an SDK-type Service Bus binding: register it with sdkBinding: true and import @azure/functions-extensions-servicebus');
    }
    const { actions } = trigger;
    const messages = Array.isArray(trigger.messages) ? trigger.messages : [trigger.messages];
    for (const message of messages) await handleMessage(message, actions, context);
  };

  async function handleMessage(message: ReceivedQueueMessage, actions: QueueMessageActions<ReceivedQueueMessage>, context: InvocationContext): Promise<void> {
    const messageId = messageIdText(message.messageId) ?? context.invocationId;
    const deadLetter = async (reason: string, description: string): Promise<void> => {
      context.warn(`agent request ${messageId}: dead-lettered (${reason}): ${description}`);
      // Service Bus caps the description at 4096 characters.
      await actions.deadletter(message, undefined, { value: reason }, { value: description.slice(0, 4096) });
    };

    let request: AgentRequest;
    try {
      request = parseAgentRequest(message.body, deps.config.agentRequestMaxBytes);
    } catch (error) {
      if ((error as { name?: unknown }).name !== 'AgentRequestInvalidError') throw error;
      return deadLetter(DeadLetterReasons.invalid, (error as Error).message);
    }

    const replyQueue = request.replyTo ?? message.replyTo;
    let reply: ReplyTarget | undefined;
    if (replyQueue !== undefined && replyQueue !== '') {
      const problem = replyProblem(replyQueue);
      if (problem) return deadLetter(DeadLetterReasons.rejected, problem);
      reply = {
        queue: replyQueue,
        requestMessageId: messageId,
        maxAttempts: deps.config.replies.maxAttempts,
        retryIntervalMs: deps.config.replies.retryIntervalMs,
      };
    }

    let started: { runId: string; created: boolean };
    try {
      // Same tenant rules as the HTTP doors: unknown → not found, suspended, agent not allowed.
      const tenant = await resolveActiveTenant(deps.tenants, request.tenantId);
      if (!tenant.allowedAgents.includes(request.agent)) {
        throw new ForbiddenError(`Agent "${request.agent}" is not allowed for tenant "${tenant.id}".`, 'agent_not_allowed');
      }
      if (reply && !replyQueueAllowed(tenant, reply.queue)) {
        throw new ForbiddenError(`Reply queue "${reply.queue}" is not one of tenant "${tenant.id}"'s replyQueues.`, 'reply_queue_not_allowed');
      }
      started = await startAgentRun(getClient(context), deps.catalog, {
        tenantId: request.tenantId,
        agentId: request.agent,
        input: request.input,
        initiator: { kind: 'queue', id: messageId },
        correlationId: request.correlationId ?? messageId,
        idempotencyKey: request.idempotencyKey ?? `sb:${messageId}`,
        ...(request.variables ? { variables: request.variables } : {}),
        ...(reply ? { reply } : {}),
      });
    } catch (error) {
      if (isAppErrorShape(error) && !error.retryable) return deadLetter(DeadLetterReasons.rejected, `${error.code}: ${error.message}`);
      // Transient: leave the message unsettled; the host abandons it and it comes back.
      throw error;
    }
    await actions.complete(message);
    context.log(`agent request ${messageId}: run ${started.runId} ${started.created ? 'started' : 'already exists'}`);
  }

  /** Why a reply queue cannot be used, or undefined when it can. */
  function replyProblem(queue: string): string | undefined {
    if (!QUEUE_NAME.test(queue)) return `replyTo '${queue.slice(0, 300)}' is not a Service Bus queue name`;
    if (queue.toLowerCase() === deps.config.agentRequestsQueue.toLowerCase()) return 'replyTo must not be the agent requests queue (the reply would loop back as a request)';
    if (deps.config.replies.transport.kind === 'none') return 'the request names a reply queue, but this deployment has no reply transport configured';
    return undefined;
  }
}
