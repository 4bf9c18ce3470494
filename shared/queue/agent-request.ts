import type { InvocationContext } from '@azure/functions';
import { instruments } from '../telemetry/instruments.js';
import { noteTenant } from '../telemetry/invocation-tracing.js';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { startAgentRun } from '../agent-runtime/start-run.js';
import { admitRun } from '../runs/admission.js';
import { QueueSignatureProperties, queueSignatureProblem, signatureKey } from './queue-signature.js';
import type { Deps } from '../composition-root.js';
import { ForbiddenError, isAppErrorShape } from '../errors.js';
import { MAX_JSON_DEPTH, jsonTextDepth, valueDepth } from '../json-depth.js';
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
  correlationId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .optional(),
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
  // Depth first: anything deeper would overflow the stack in later steps (and is never valid).
  if (typeof body !== 'string' && valueDepth(body) > MAX_JSON_DEPTH) {
    throw new AgentRequestInvalidError(`json_too_deep: the message body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
  if (Buffer.byteLength(text) > maxBytes) {
    throw new AgentRequestInvalidError(`message body is over ${maxBytes} bytes`);
  }
  if (typeof body === 'string' && jsonTextDepth(body) > MAX_JSON_DEPTH) {
    throw new AgentRequestInvalidError(`json_too_deep: the message body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
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
    throw new AgentRequestInvalidError(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

/** Dead-letter reasons this door uses (the `DeadLetterReason` property callers and alerts see). */
export const DeadLetterReasons = {
  /** The body is not JSON, too large, or fails the schema. */
  invalid: 'InvalidAgentRequest',
  /** Valid, but refused for good (unknown tenant or agent, reply queue not allowed or unavailable). */
  rejected: 'AgentRequestRejected',
  /** Multi-tenant mode: the message does not prove its tenant (unsigned, wrongly signed, stale). */
  unauthenticated: 'AgentRequestUnauthenticated',
  /**
   * The tenant's token budget for the billing period is spent (`budget_exhausted`): dead-lettered,
   * not abandoned, since redelivery cannot succeed before the period ends; the description says
   * when it renews. Resubmit from the dead-letter queue after that.
   */
  budgetExhausted: 'BudgetExhausted',
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
  applicationProperties?: Record<string, unknown> | undefined;
  /** The AMQP message as received (the package keeps it): its data section holds the body's exact bytes. */
  _rawAmqpMessage?: { body?: unknown } | undefined;
}

/**
 * The body as the exact text the producer sent. The package JSON-parses a body whose content
 * type is `application/json`, so the bytes are read from the raw AMQP data section when it is
 * there; else a string or bytes body as it came. Undefined when only a decoded value is left.
 */
function bodyText(message: ReceivedQueueMessage): string | undefined {
  const section = message._rawAmqpMessage?.body as { typecode?: unknown; content?: unknown } | undefined;
  if (section && section.typecode === 0x75 && section.content instanceof Uint8Array) return Buffer.from(section.content).toString('utf8');
  const { body } = message;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return undefined;
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
export function createAgentRequestHandler(
  deps: Pick<Deps, 'config' | 'catalog' | 'tenants' | 'secrets' | 'rateLimiter' | 'now'> & Partial<Pick<Deps, 'budget'>>,
  getClient: (context: InvocationContext) => DurableClient,
) {
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
    // The tenant a metric names: only once the message proved it (an unsigned claim is not one).
    let tenantId = 'unknown';
    const deadLetter = async (reason: string, description: string): Promise<void> => {
      context.warn(`agent request ${messageId}: dead-lettered (${reason}): ${description}`);
      instruments().deadLetters.add(1, { 'tenant.id': tenantId, reason });
      // Service Bus caps the description at 4096 characters.
      await actions.deadletter(message, undefined, { value: reason }, { value: description.slice(0, 4096) });
    };

    const text = bodyText(message);
    let request: AgentRequest;
    try {
      request = parseAgentRequest(text ?? message.body, deps.config.agentRequestMaxBytes);
    } catch (error) {
      if ((error as { name?: unknown }).name !== 'AgentRequestInvalidError') throw error;
      return deadLetter(DeadLetterReasons.invalid, (error as Error).message);
    }

    // Who sent it: in multi-tenant mode the message must be signed with its tenant's queue secret;
    // in single-tenant mode (a managed application) the namespace's RBAC is the boundary.
    let signatureKeyOf: string | undefined;
    if (deps.config.tenancy.mode === 'multi') {
      const problem = await authenticationProblem(message, request, text);
      if (problem.failure) return deadLetter(DeadLetterReasons.unauthenticated, problem.failure);
      signatureKeyOf = problem.key;
    }
    tenantId = request.tenantId;
    noteTenant(request.tenantId);

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
      // The admission path every door shares: tenant status, allowed agent, rate and token budgets, run id.
      // Variables may only fill in what the agent declares. The run id comes from the idempotency
      // key (else the signature, else the message id) in the queue door's own namespace.
      const declaredVariables = request.variables ? (await deps.catalog.resolve(request.tenantId, request.agent).catch(() => undefined))?.definition.variables : undefined;
      const admission = await admitRun(deps, {
        door: 'queue',
        tenant: request.tenantId,
        agentId: request.agent,
        idempotencyKey: request.idempotencyKey ?? signatureKeyOf ?? `message:${messageId}`,
        variables: request.variables,
        ...(declaredVariables ? { declaredVariables } : {}),
      });
      if (reply && !replyQueueAllowed(admission.tenant, reply.queue)) {
        throw new ForbiddenError(`Reply queue "${reply.queue}" is not one of tenant "${admission.tenant.id}"'s replyQueues.`, 'reply_queue_not_allowed');
      }
      started = await startAgentRun(getClient(context), deps.catalog, {
        admission,
        idempotent: true,
        input: request.input,
        initiator: { kind: 'queue', id: messageId },
        correlationId: request.correlationId ?? messageId,
        ...(request.variables ? { variables: request.variables } : {}),
        ...(reply ? { reply } : {}),
      });
    } catch (error) {
      if (isAppErrorShape(error) && error.code === 'budget_exhausted') return deadLetter(DeadLetterReasons.budgetExhausted, `${error.code}: ${error.message}`);
      if (isAppErrorShape(error) && !error.retryable) return deadLetter(DeadLetterReasons.rejected, `${error.code}: ${error.message}`);
      // Transient: leave the message unsettled; the host abandons it and it comes back.
      throw error;
    }
    await actions.complete(message);
    context.log(`agent request ${messageId}: run ${started.runId} ${started.created ? 'started' : 'already exists'}`);
  }

  /**
   * Checks the message's signature (see queue-signature.ts). Every failure reads alike whether
   * or not the tenant exists. Returns the idempotency key a signed message without one uses.
   */
  async function authenticationProblem(message: ReceivedQueueMessage, request: AgentRequest, text: string | undefined): Promise<{ failure?: string; key?: string }> {
    const props = message.applicationProperties ?? {};
    const prop = (name: string): string | undefined => (typeof props[name] === 'string' ? (props[name] as string) : undefined);
    const signature = prop(QueueSignatureProperties.signature);
    const timestamp = prop(QueueSignatureProperties.timestamp);
    const signedTenant = prop(QueueSignatureProperties.tenant);
    if (!signature || !timestamp || !signedTenant) {
      return { failure: `unsigned message: set the application properties ${Object.values(QueueSignatureProperties).join(', ')} (docs/queue.md)` };
    }
    if (text === undefined) return { failure: 'a signed message must carry its body as JSON text (a string or bytes), exactly as signed' };
    if (signedTenant !== request.tenantId) return { failure: `${QueueSignatureProperties.tenant} does not match the body's tenantId` };
    const tenant = await deps.tenants.get(request.tenantId);
    const secret = tenant?.queueSecretRef ? await deps.secrets.getSecret(tenant.queueSecretRef) : undefined;
    const problem = queueSignatureProblem(
      secret ?? 'queue-decoy-secret',
      { tenantId: request.tenantId, idempotencyKey: request.idempotencyKey, timestamp, body: text },
      signature,
      deps.now(),
    );
    if (problem) return { failure: problem };
    if (!secret) return { failure: 'the signature does not match the message' };
    return { key: signatureKey(signature) };
  }

  /** Why a reply queue cannot be used, or undefined when it can. */
  function replyProblem(queue: string): string | undefined {
    if (!QUEUE_NAME.test(queue)) return `replyTo '${queue.slice(0, 300)}' is not a Service Bus queue name`;
    if (queue.toLowerCase() === deps.config.agentRequestsQueue.toLowerCase()) return 'replyTo must not be the agent requests queue (the reply would loop back as a request)';
    if (deps.config.replies.transport.kind === 'none') return 'the request names a reply queue, but this deployment has no reply transport configured';
    return undefined;
  }
}
