import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { RegisteredFunction, RpcBindingInfo, RpcTypedData } from '../host/core-types.js';
import type { HostExtension, HostServices } from '../host/extension-types.js';
import { tryParseTimeSpanInMs } from '../timer/ncrontab.js';
import { type DeadLetterEvent, ServiceBusQueueStore, type ServiceBusMessageInput, type StoredServiceBusMessage } from './service-bus-store.js';
import { acquireSettlementServer, registerSettler, releaseSettlementServer, toModelBindingData } from './service-bus-settlement.js';
import { sendJson, sendProblem } from '../host/http-response.js';
import { readBodyText, refuseTooLarge } from '../host/request-body.js';
import { storageHealth } from '../host/storage.js';

/**
 * Service Bus queue triggers and output bindings for the devhost, backed by
 * {@link ServiceBusQueueStore} in the devhost database.
 *
 * What a function sees follows the Service Bus extension (v5) and the Functions host:
 * - Trigger data: `{string}` for text bodies, `{json}` for JSON bodies, `{bytes}` for binary.
 * - Trigger metadata, PascalCase as the host sends it (the Node library camel-cases keys, and the
 *   keys of nested objects such as ApplicationProperties): MessageId, DeliveryCount,
 *   SequenceNumber, EnqueuedTimeUtc / EnqueuedTime, ExpiresAtUtc / ExpiresAt, LockToken,
 *   ApplicationProperties / UserProperties, and when set ContentType, CorrelationId, SessionId,
 *   Subject / Label, ReplyTo. Non-string values travel as JSON, as the host's default conversion
 *   does; `*Utc` dates have no offset (they are .NET DateTimes of unspecified kind), the others end
 *   in `+00:00`. MessageReceiver is not provided.
 * - SDK-type bindings (`sdkBinding: true`, `@azure/functions-extensions-servicebus`): the trigger
 *   input is `modelBindingData` (AMQP message and lock token, as the host sends it) and the
 *   function settles through the package's ServiceBusMessageActions, which reach a loopback gRPC
 *   `Settlement` server (see service-bus-settlement.ts). Defer and sessions answer UNIMPLEMENTED.
 * - Peek-lock with auto-complete: completed when the function succeeds (outputs delivered),
 *   abandoned when it throws. With `autoCompleteMessages: false` the function settles the message;
 *   if it throws without settling, the message is abandoned (as the extension does); if it
 *   returns without settling, the lock simply runs out and the message comes back. Either way
 *   the message is redelivered with DeliveryCount + 1 and dead-lettered
 *   (`MaxDeliveryCountExceeded`) after `maxDeliveryCount` deliveries. In Azure maxDeliveryCount is
 *   a property of the queue; the devhost reads it from host.json
 *   `extensions.serviceBus.maxDeliveryCount` (default 10, the service's default).
 * - At most `maxConcurrentCalls` (host.json, default 16) invocations per function at a time; the
 *   real default is 16 × cores. Locks are renewed while a function runs, up to host.json
 *   `maxAutoLockRenewalDuration` (default 5 minutes), as the extension does.
 *
 * Not supported, and rejected at start with the function named: topics and subscriptions,
 * sessions, `cardinality: 'many'`. The `connection` setting is ignored: every queue lives in the
 * devhost.
 */

export interface ServiceBusExtensionOptions {
  /** How often dispatchers look for scheduled messages and expired locks. Default 1000 ms. */
  pollIntervalInMs?: number;
  /** Lock duration for received messages (a queue property in Azure; its default is 60 s). */
  lockDurationInMs?: number;
  /** Overrides host.json `extensions.serviceBus.maxConcurrentCalls`. Integer >= 1. */
  maxConcurrentCalls?: number;
  /** Overrides host.json `maxAutoLockRenewalDuration`; 0 turns renewal off. */
  maxAutoLockRenewalInMs?: number;
  /** The clock for message timestamps and locks. */
  now?: () => Date;
  /** Resolves `%name%` queue names from app settings. Defaults to `process.env`. */
  appSetting?: (name: string) => string | undefined;
}

/** The Service Bus extension plus test and tooling hooks. */
export interface ServiceBusExtension extends HostExtension {
  /** The queues; safe to use directly (sends through it wake the dispatchers too). */
  readonly store: ServiceBusQueueStore;
  /**
   * Enqueues messages as a producer would. Synchronous; dispatch happens on a later tick.
   *
   * @returns the stored ids and sequence numbers, in input order.
   */
  send(queue: string, messages: ServiceBusMessageInput | readonly ServiceBusMessageInput[]): { messageId: string; sequenceNumber: number }[];
  /**
   * Resolves once no message is receivable on any triggered queue and no invocation is in flight.
   * Scheduled messages not yet due and messages locked elsewhere do not count. Resolves at once
   * when the extension is not running.
   */
  waitForIdle(): Promise<void>;
}

const DEFAULT_POLL_INTERVAL_MS = 1000;
const DEFAULT_LOCK_DURATION_MS = 60_000;
const DEFAULT_MAX_CONCURRENT_CALLS = 16;
const DEFAULT_MAX_AUTO_RENEW_MS = 5 * 60_000;
const MAX_ADMIN_BODY_BYTES = 4 * 1024 * 1024;
/** DateTimeOffset.MaxValue: the service's ExpiresAt for a message without time-to-live. */
const NEVER_EXPIRES = '9999-12-31T23:59:59.9999999';

interface Dispatcher {
  fn: RegisteredFunction;
  queue: string;
  inFlight: Set<Promise<void>>;
  pumpScheduled: boolean;
}

/**
 * Creates the Service Bus extension. The store (and its table) is created now; `start()` checks
 * every Service Bus binding (one error listing each unsupported one) and starts dispatching;
 * `stop()` stops receiving and waits for in-flight invocations to settle.
 *
 * @throws Error when host.json `extensions.serviceBus` holds an invalid maxDeliveryCount,
 *   maxConcurrentCalls or maxAutoLockRenewalDuration.
 */
export function createServiceBusExtension(services: HostServices, options: ServiceBusExtensionOptions = {}): ServiceBusExtension {
  const { logger } = services;
  const config = readHostJson(services.hostJson.extensions?.serviceBus);
  const maxConcurrentCalls = options.maxConcurrentCalls ?? config.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS;
  const lockDurationInMs = options.lockDurationInMs ?? DEFAULT_LOCK_DURATION_MS;
  const maxAutoRenewMs = options.maxAutoLockRenewalInMs ?? config.maxAutoLockRenewalInMs ?? DEFAULT_MAX_AUTO_RENEW_MS;
  const pollIntervalInMs = options.pollIntervalInMs ?? DEFAULT_POLL_INTERVAL_MS;
  const appSetting = options.appSetting ?? ((name: string) => process.env[name]);
  const clock = options.now ?? (() => new Date());
  for (const [label, value, min] of [
    ['maxConcurrentCalls', maxConcurrentCalls, 1],
    ['lockDurationInMs', lockDurationInMs, 1],
    ['pollIntervalInMs', pollIntervalInMs, 1],
    ['maxAutoLockRenewalInMs', maxAutoRenewMs, 0],
  ] as const) {
    if (!Number.isInteger(value) || value < min) throw new Error(`Service Bus: ${label} must be an integer >= ${min} (got ${value}).`);
  }

  const dispatchers: Dispatcher[] = [];
  let running = false;
  let settlementAcquired = false;
  let poll: NodeJS.Timeout | undefined;
  let idleWaiters: (() => void)[] = [];

  const store = new ServiceBusQueueStore(services.db, {
    maxDeliveryCount: config.maxDeliveryCount ?? 10,
    now: clock,
    onDeadLetter: (event: DeadLetterEvent) =>
      logger.warn(
        `Service Bus: dead-lettered message ${event.messageId} on queue '${event.queue}' after ${event.deliveryCount} ` +
          `delivery(ies): ${event.reason}${event.description ? ` (${event.description})` : ''}`,
      ),
    onAvailable: (queue) => {
      for (const d of dispatchers) if (d.queue === queue) schedulePump(d);
    },
  });

  // Fail closed: no message is received while the database cannot be written; dispatch resumes
  // when it can.
  const health = storageHealth(services.db, logger);
  let removeHealthListener: (() => void) | undefined;

  const isIdle = (): boolean => {
    if (!running) return true;
    try {
      return dispatchers.every((d) => d.inFlight.size === 0 && !store.hasAvailable(d.queue));
    } catch {
      return false; // the connection is being reopened
    }
  };

  const checkIdle = (): void => {
    if (idleWaiters.length === 0 || !isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  // Pumps run on a later tick so a send never runs a function inside its caller's stack.
  function schedulePump(d: Dispatcher): void {
    if (!running || d.pumpScheduled) return;
    d.pumpScheduled = true;
    setImmediate(() => {
      d.pumpScheduled = false;
      pump(d);
    });
  }

  function pump(d: Dispatcher): void {
    while (running && health.healthy && d.inFlight.size < maxConcurrentCalls) {
      let received: StoredServiceBusMessage[];
      try {
        received = store.receive(d.queue, { maxMessages: maxConcurrentCalls - d.inFlight.size, lockDurationInMs });
      } catch (error) {
        logger.error(`Service Bus: receiving from '${d.queue}' for '${d.fn.name}' failed: ${errorMessage(error)}`);
        break;
      }
      if (received.length === 0) break;
      for (const message of received) {
        const settled: Promise<void> = handle(d.fn, message).finally(() => {
          d.inFlight.delete(settled);
          schedulePump(d);
          checkIdle();
        });
        d.inFlight.add(settled);
      }
    }
    checkIdle();
  }

  async function handle(fn: RegisteredFunction, message: StoredServiceBusMessage): Promise<void> {
    const lockToken = message.lockToken ?? '';
    const stopRenewing = renewWhileRunning(lockToken, message);
    const sdkBinding = isSdkBinding(fn.trigger);
    const autoComplete = fn.trigger.autoCompleteMessages !== false;
    // Settlement by the function itself (SDK binding); once settled, the host leaves the message alone.
    let settledByFunction = false;
    const settle = (act: () => void): void => {
      act();
      settledByFunction = true;
      stopRenewing();
    };
    const unregister = sdkBinding
      ? registerSettler(lockToken, {
          complete: () => settle(() => store.complete(lockToken)),
          abandon: () => settle(() => store.abandon(lockToken)),
          deadLetter: (reason, description) => settle(() => store.deadLetter(lockToken, reason ?? '', description)),
          renewLock: () => {
            store.renewLock(lockToken, lockDurationInMs);
          },
        })
      : () => {};
    let failure: unknown;
    let failed = false;
    try {
      const data = sdkBinding ? toModelBindingData(message) : toTriggerData(message);
      await services.invoke(fn, { [fn.triggerBindingName]: data }, toTriggerMetadata(message));
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      stopRenewing();
      unregister();
    }
    if (settledByFunction) return;
    try {
      if (!failed) {
        if (autoComplete) store.complete(lockToken);
        else {
          logger.warn(
            `Service Bus: '${fn.name}' returned without settling message ${message.messageId} (autoCompleteMessages is false); ` +
              'it will be delivered again when its lock expires.',
          );
        }
        return;
      }
      logger.warn(
        `Service Bus: '${fn.name}' failed on message ${message.messageId} (delivery ${message.deliveryCount} of ` +
          `${store.maxDeliveryCount}): ${errorMessage(failure)}; abandoning it.`,
      );
      store.abandon(lockToken);
    } catch (error) {
      if (error instanceof Error && error.name === 'MessageLockLostError') {
        logger.warn(`Service Bus: the lock on message ${message.messageId} ('${fn.name}') expired before it was settled; ` + 'it will be delivered again.');
      } else {
        logger.error(`Service Bus: settling message ${message.messageId} failed: ${errorMessage(error)}`);
      }
    }
  }

  /** Renews the lock at half its duration until stopped or maxAutoLockRenewalDuration has passed. */
  function renewWhileRunning(lockToken: string, message: StoredServiceBusMessage): () => void {
    if (maxAutoRenewMs === 0) return () => {};
    const startedAt = clock().getTime();
    const timer = setInterval(
      () => {
        if (clock().getTime() - startedAt >= maxAutoRenewMs) {
          clearInterval(timer);
          return;
        }
        try {
          store.renewLock(lockToken, lockDurationInMs);
        } catch (error) {
          clearInterval(timer);
          const lost = error instanceof Error && error.name === 'MessageLockLostError';
          logger.warn(`Service Bus: could not renew the lock on message ${message.messageId}${lost ? ' (lock lost)' : `: ${errorMessage(error)}`}.`);
        }
      },
      Math.max(1, Math.floor(lockDurationInMs / 2)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  const resolveQueue = (fn: RegisteredFunction, binding: RpcBindingInfo, what: string): string => {
    const { queueName } = binding;
    if (typeof queueName !== 'string' || queueName.trim() === '') throw new Error(`function '${fn.name}': the ${what} needs a 'queueName'`);
    const setting = /^%([^%]+)%$/.exec(queueName.trim());
    if (setting?.[1] === undefined) return queueName;
    const value = appSetting(setting[1]);
    if (value === undefined) throw new Error(`function '${fn.name}': the ${what} names app setting '${setting[1]}', which is not set`);
    return value;
  };

  /** Problems with a function's Service Bus bindings, as sentences naming the function. */
  const checkBindings = (fn: RegisteredFunction): string[] => {
    const problems: string[] = [];
    for (const binding of Object.values(fn.metadata.bindings)) {
      const isTrigger = binding.type === 'serviceBusTrigger';
      const isOutput = binding.type === 'serviceBus' && binding.direction === 'out';
      if (!isTrigger && !isOutput) continue;
      const what = isTrigger ? 'trigger' : 'output';
      if (binding.topicName !== undefined || binding.subscriptionName !== undefined) {
        problems.push(`function '${fn.name}': topic ${what}s are not supported by the devhost (topic '${String(binding.topicName)}'); use a queue locally`);
        continue;
      }
      if (isTrigger) {
        if (binding.isSessionsEnabled === true) problems.push(`function '${fn.name}': session-enabled triggers are not supported by the devhost`);
        if (binding.cardinality === 'many') problems.push(`function '${fn.name}': batch triggers (cardinality 'many') are not supported by the devhost`);
      }
      try {
        resolveQueue(fn, binding, what);
      } catch (error) {
        problems.push(errorMessage(error));
      }
    }
    return problems;
  };

  const sendToOutputs = (fn: RegisteredFunction, binding: RpcBindingInfo, data: RpcTypedData | null | undefined): void => {
    const messages = outputMessages(data, fn.name);
    if (messages.length > 0) store.send(resolveQueue(fn, binding, 'output'), messages);
  };

  const extension: ServiceBusExtension = {
    triggerTypes: ['serviceBusTrigger'],
    bindingTypes: ['serviceBus'],
    store,

    send(queue, messages) {
      return store.send(queue, messages);
    },

    // Topics, sessions, batches and unset queue settings: that function is disabled, the rest run.
    checkFunction: checkBindings,

    async start(): Promise<void> {
      if (running) throw new Error('The Service Bus extension is already started.');
      const problems = [...services.functions.values()].flatMap(checkBindings);
      if (problems.length > 0) throw new Error(`Service Bus bindings cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      dispatchers.length = 0;
      for (const fn of services.functions.values()) {
        if (fn.trigger.type !== 'serviceBusTrigger') continue;
        const queue = resolveQueue(fn, fn.trigger, 'trigger').trim().toLowerCase();
        dispatchers.push({ fn, queue, inFlight: new Set(), pumpScheduled: false });
        logger.info(`Service Bus: '${fn.name}' listens on queue '${queue}' (maxConcurrentCalls ${maxConcurrentCalls}).`);
      }
      if (dispatchers.some((d) => isSdkBinding(d.fn.trigger))) {
        await acquireSettlementServer();
        settlementAcquired = true;
      }
      running = true;
      removeHealthListener = health.onChange((healthy) => {
        if (healthy) for (const d of dispatchers) schedulePump(d);
      });
      if (dispatchers.length > 0) {
        // The poll picks up scheduled messages that came due and locks that expired; sends and
        // abandons wake the dispatchers directly.
        poll = setInterval(() => {
          for (const d of dispatchers) pump(d);
        }, pollIntervalInMs);
        poll.unref();
      }
      for (const d of dispatchers) schedulePump(d);
    },

    async stop(): Promise<void> {
      running = false;
      removeHealthListener?.();
      if (poll) clearInterval(poll);
      poll = undefined;
      // Nothing is prefetched: every received message is already in a function, so waiting for
      // the invocations settles (completes or abandons) every lock this extension holds.
      await Promise.all(dispatchers.flatMap((d) => [...d.inFlight]));
      if (settlementAcquired) {
        settlementAcquired = false;
        await releaseSettlementServer();
      }
      checkIdle();
    },

    waitForIdle(): Promise<void> {
      for (const d of dispatchers) schedulePump(d);
      if (isIdle()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    async invokeFromAdmin(fn: RegisteredFunction, input: string | undefined): Promise<void> {
      const queue = resolveQueue(fn, fn.trigger, 'trigger');
      const text = input ?? '';
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // Not JSON: send the text as a string body.
      }
      store.send(queue, { body });
    },

    async deliverOutputs(fn, outcome): Promise<void> {
      for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
        if (binding.type !== 'serviceBus' || binding.direction !== 'out') continue;
        sendToOutputs(fn, binding, name === '$return' ? outcome.returnValue : outcome.outputs.get(name));
      }
    },

    async handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      const match = /^\/admin\/devhost\/queues\/([^/]+)(\/messages|\/deadletter)?\/?$/.exec(url.pathname);
      if (!match) return false;
      let queue: string;
      try {
        queue = decodeURIComponent(match[1] ?? '');
      } catch {
        sendProblem(res, 400, { code: 'InvalidQueueName', detail: 'The queue name is not valid percent-encoding.' });
        return true;
      }
      const sub = match[2];
      if (sub === '/messages') {
        if (req.method !== 'POST') return sendMethodNotAllowed(res, 'POST');
        await postMessages(req, res, queue);
        return true;
      }
      if (req.method !== 'GET') return sendMethodNotAllowed(res, 'GET');
      const maxParam = url.searchParams.get('maxMessages');
      const maxMessages = maxParam === null ? 100 : Number(maxParam);
      if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > 5000) {
        sendProblem(res, 400, { code: 'InvalidQuery', detail: 'maxMessages must be an integer from 1 to 5000.' });
        return true;
      }
      try {
        const messages = store.peek(queue, { deadLetter: sub === '/deadletter', maxMessages });
        sendJson(res, 200, messages.map(toAdminJson));
      } catch (error) {
        if (error instanceof Error && error.name === 'InvalidServiceBusMessageError') sendProblem(res, 400, { code: 'InvalidQueueName', detail: error.message });
        else throw error;
      }
      return true;
    },
  };

  async function postMessages(req: IncomingMessage, res: ServerResponse, queue: string): Promise<void> {
    let text: string;
    const limit = Math.min(MAX_ADMIN_BODY_BYTES, services.maxRequestBodyBytes);
    try {
      text = await readBodyText(req, limit);
    } catch (error) {
      if ((error as Error | undefined)?.name !== 'RequestTooLargeError') throw error;
      const detail = `The request body exceeds ${limit} bytes.`;
      return refuseTooLarge(req, res, {
        type: 'application/problem+json; charset=utf-8',
        text: JSON.stringify({ type: 'about:blank', title: 'Content Too Large', status: 413, detail, code: 'BodyTooLarge' }),
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      return sendProblem(res, 400, { code: 'InvalidJson', detail: 'The body must be a JSON message {"body": ...} or an array of them.' });
    }
    const parsed = adminMessagesSchema.safeParse(json);
    if (!parsed.success) {
      return sendProblem(res, 400, {
        code: 'InvalidMessage',
        detail: z.prettifyError(parsed.error),
        errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const list = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    try {
      const sent = store.send(queue, list.map(fromAdminMessage));
      sendJson(res, 201, { messageIds: sent.map((s) => s.messageId) });
    } catch (error) {
      if (error instanceof Error && error.name === 'InvalidServiceBusMessageError') {
        return sendProblem(res, 400, { code: 'InvalidMessage', detail: error.message });
      }
      throw error;
    }
  }

  return extension;
}

interface ServiceBusHostConfig {
  maxConcurrentCalls: number | undefined;
  maxDeliveryCount: number | undefined;
  maxAutoLockRenewalInMs: number | undefined;
}

/** Reads host.json `extensions.serviceBus` (v5 flat keys, or v4's `messageHandlerOptions`). */
function readHostJson(section: Record<string, unknown> | undefined): ServiceBusHostConfig {
  const nested = section?.['messageHandlerOptions'];
  const handler = typeof nested === 'object' && nested !== null ? (nested as Record<string, unknown>) : {};
  const integer = (key: string, value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new Error(`host.json extensions.serviceBus.${key} must be an integer >= 1 (got ${JSON.stringify(value)}).`);
    }
    return value;
  };
  const renewal = section?.['maxAutoLockRenewalDuration'] ?? handler['maxAutoRenewDuration'];
  let maxAutoLockRenewalInMs: number | undefined;
  if (renewal !== undefined) {
    maxAutoLockRenewalInMs = typeof renewal === 'string' ? tryParseTimeSpanInMs(renewal) : undefined;
    if (maxAutoLockRenewalInMs === undefined) {
      throw new Error(`host.json extensions.serviceBus.maxAutoLockRenewalDuration must be a TimeSpan such as "00:05:00" (got ${JSON.stringify(renewal)}).`);
    }
  }
  return {
    maxConcurrentCalls: integer('maxConcurrentCalls', section?.['maxConcurrentCalls'] ?? handler['maxConcurrentCalls']),
    maxDeliveryCount: integer('maxDeliveryCount', section?.['maxDeliveryCount']),
    maxAutoLockRenewalInMs,
  };
}

/** The library marks SDK-type bindings with `sdkBinding` and `properties.supportsDeferredBinding`. */
function isSdkBinding(binding: RpcBindingInfo): boolean {
  const properties = binding['properties'] as Record<string, unknown> | undefined;
  return binding.sdkBinding === true || properties?.['supportsDeferredBinding'] === 'true';
}

function toTriggerData(message: StoredServiceBusMessage): RpcTypedData {
  const raw = message.rawBody;
  if (typeof raw !== 'string') return { bytes: raw };
  return message.bodyKind === 'json' ? { json: raw } : { string: raw };
}

/** Binding data as the extension adds it and the host converts it (strings as-is, the rest JSON). */
function toTriggerMetadata(message: StoredServiceBusMessage): Record<string, RpcTypedData> {
  const json = (value: unknown): RpcTypedData => ({ json: JSON.stringify(value) });
  const enqueued = message.enqueuedTimeUtc.getTime();
  const metadata: Record<string, RpcTypedData> = {
    DeliveryCount: json(message.deliveryCount),
    LockToken: { string: message.lockToken ?? '' },
    ExpiresAtUtc: json(NEVER_EXPIRES),
    ExpiresAt: json(`${NEVER_EXPIRES}+00:00`),
    EnqueuedTimeUtc: json(formatNetDateTime(enqueued)),
    EnqueuedTime: json(`${formatNetDateTime(enqueued)}+00:00`),
    MessageId: { string: message.messageId },
    SequenceNumber: json(message.sequenceNumber),
    ApplicationProperties: json(message.applicationProperties),
    UserProperties: json(message.applicationProperties),
  };
  const text: [string, string | undefined][] = [
    ['ContentType', message.contentType],
    ['ReplyTo', message.replyTo],
    ['Subject', message.subject],
    ['Label', message.subject],
    ['CorrelationId', message.correlationId],
    ['SessionId', message.sessionId],
  ];
  // The host leaves out binding data whose value is null.
  for (const [key, value] of text) if (value !== undefined) metadata[key] = { string: value };
  return metadata;
}

/** An output binding value (RPC typed data) as messages; a JSON array is one message per element. */
function outputMessages(data: RpcTypedData | null | undefined, functionName: string): ServiceBusMessageInput[] {
  if (data === null || data === undefined) return [];
  if (typeof data.string === 'string') return [{ body: data.string }];
  if (typeof data.json === 'string') {
    const value = JSON.parse(data.json) as unknown;
    const items = Array.isArray(value) ? (value as unknown[]) : [value];
    return items.map((item) => ({ body: item }));
  }
  const bytes = data.bytes ?? data.stream;
  if (bytes) return [{ body: bytes }];
  if (typeof data.int === 'number') return [{ body: data.int }];
  if (typeof data.double === 'number') return [{ body: data.double }];
  throw new Error(`function '${functionName}': a Service Bus output must be a string, bytes, a number or JSON.`);
}

/** A .NET DateTime of unspecified kind as Json.NET writes it: no offset, fraction trimmed. */
function formatNetDateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  const [whole = iso, fraction = ''] = iso.slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return trimmed ? `${whole}.${trimmed}` : whole;
}

const applicationPropertyValue = z.union([z.string(), z.number().refine(Number.isFinite), z.boolean()]);
const adminMessageSchema = z.strictObject({
  body: z.unknown().refine((v) => v !== undefined, 'body is required'),
  messageId: z.string().min(1).max(128).optional(),
  correlationId: z.string().optional(),
  sessionId: z.string().optional(),
  contentType: z.string().optional(),
  subject: z.string().optional(),
  replyTo: z.string().optional(),
  applicationProperties: z.record(z.string(), applicationPropertyValue).optional(),
  scheduledEnqueueTimeUtc: z.iso.datetime({ offset: true }).optional(),
});
const adminMessagesSchema = z.union([adminMessageSchema, z.array(adminMessageSchema).min(1).max(1000)]);

function fromAdminMessage(m: z.infer<typeof adminMessageSchema>): ServiceBusMessageInput {
  const message: ServiceBusMessageInput = { body: m.body };
  if (m.messageId !== undefined) message.messageId = m.messageId;
  if (m.correlationId !== undefined) message.correlationId = m.correlationId;
  if (m.sessionId !== undefined) message.sessionId = m.sessionId;
  if (m.contentType !== undefined) message.contentType = m.contentType;
  if (m.subject !== undefined) message.subject = m.subject;
  if (m.replyTo !== undefined) message.replyTo = m.replyTo;
  if (m.applicationProperties !== undefined) message.applicationProperties = m.applicationProperties;
  if (m.scheduledEnqueueTimeUtc !== undefined) message.scheduledEnqueueTimeUtc = new Date(m.scheduledEnqueueTimeUtc);
  return message;
}

/** The admin API's view of a message: decoded body (bytes as base64), ISO dates, no lock token. */
function toAdminJson(m: StoredServiceBusMessage): Record<string, unknown> {
  return {
    messageId: m.messageId,
    sequenceNumber: m.sequenceNumber,
    state: m.state,
    bodyKind: m.bodyKind,
    body: m.body instanceof Uint8Array ? Buffer.from(m.body).toString('base64') : m.body,
    contentType: m.contentType,
    correlationId: m.correlationId,
    sessionId: m.sessionId,
    subject: m.subject,
    replyTo: m.replyTo,
    applicationProperties: m.applicationProperties,
    enqueuedTimeUtc: m.enqueuedTimeUtc.toISOString(),
    scheduledEnqueueTimeUtc: m.scheduledEnqueueTimeUtc?.toISOString(),
    deliveryCount: m.deliveryCount,
    lockedUntilUtc: m.lockedUntilUtc?.toISOString(),
    deadLetterReason: m.deadLetterReason,
    deadLetterErrorDescription: m.deadLetterErrorDescription,
  };
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): true {
  res.setHeader('allow', allow);
  sendProblem(res, 405, { code: 'MethodNotAllowed', detail: `Use ${allow} on this path.` });
  return true;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
