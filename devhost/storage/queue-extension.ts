import { availableParallelism } from 'node:os';
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import type { RegisteredFunction, RpcBindingInfo, RpcTypedData } from '../host/core-types.js';
import type { HostExtension, HostServices, InvocationBindingContext } from '../host/extension-types.js';
import { tryParseTimeSpanInMs } from '../timer/ncrontab.js';
import { BindingExpressionError, bindingDataFor, resolveSettings, resolveTemplate } from './binding-expressions.js';
import { isNotFound, processSetting, queueNameProblem, StorageClients, type SettingLookup } from './storage-account.js';

/**
 * Azure Storage queue trigger and output binding (Azurite locally), with the host's semantics and
 * host.json `extensions.queues` defaults:
 *
 * - Each queue-triggered function polls its queue, taking up to `batchSize` (16, at most 32)
 *   messages, hidden for 10 minutes while they run, and fetches again once no more than
 *   `newBatchThreshold` (cores x batchSize / 2) are in flight. An empty poll backs off
 *   exponentially from 100 ms up to `maxPollingInterval` (1 minute); a message this devhost's own
 *   output binding sends wakes the listeners of that queue at once (the host's shared queue watcher).
 * - Success deletes the message. A failure makes it visible again after `visibilityTimeout` (0);
 *   a message that fails on its `maxDequeueCount`th (5) delivery is moved to `<queue>-poison`.
 * - `messageEncoding` (`base64`, the default, or `none`): outputs are written encoded, triggers
 *   decode; a message that is not valid base64 goes to the poison queue with a warning.
 * - Trigger metadata as the host sends it: `QueueTrigger`, `Id`, `DequeueCount`, `InsertionTime`,
 *   `ExpirationTime`, `NextVisibleTime`, `PopReceipt`.
 */

export type MessageEncoding = 'base64' | 'none';

export interface QueueExtensionOptions {
  /** App settings (connection strings, `%name%`); default the process environment. */
  setting?: SettingLookup;
  /** The shortest wait after an empty poll. Default 100 ms, the host's minimum. */
  minPollingIntervalInMs?: number;
}

/** Message text as written to the queue (`base64` of the UTF-8 bytes, or the text as is). */
export function encodeQueueMessage(content: string | Uint8Array, encoding: MessageEncoding): string {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
  return encoding === 'base64' ? bytes.toString('base64') : bytes.toString('utf8');
}

/** A message's bytes as the function receives them; `undefined` when `base64` is expected and it is not. */
export function decodeQueueMessageBytes(text: string, encoding: MessageEncoding): Buffer | undefined {
  if (encoding === 'none') return Buffer.from(text, 'utf8');
  const compact = text.replace(/\s/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** Message text as the function receives it; `undefined` when `base64` is expected and it is not. */
export function decodeQueueMessage(text: string, encoding: MessageEncoding): string | undefined {
  return decodeQueueMessageBytes(text, encoding)?.toString('utf8');
}

/** Output binding data as queue messages: a JSON array is one message per element. */
export function queueMessages(data: RpcTypedData | null | undefined, what: string): (string | Uint8Array)[] {
  if (data === null || data === undefined) return [];
  if (typeof data.string === 'string') return [data.string];
  if (typeof data.json === 'string') {
    const value = JSON.parse(data.json) as unknown;
    const items = Array.isArray(value) ? (value as unknown[]) : [value];
    return items.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
  }
  const bytes = data.bytes ?? data.stream;
  if (bytes) return [bytes];
  if (typeof data.int === 'number' || typeof data.double === 'number') return [String(data.int ?? data.double)];
  throw new Error(`${what}: a queue output must be a string, bytes, a number or JSON`);
}

interface Listener {
  fn: RegisteredFunction;
  queueName: string;
  connection: unknown;
  client: QueueClient;
  inFlight: number;
  delayInMs: number;
  timer: NodeJS.Timeout | undefined;
  polling: Promise<void> | undefined;
  repoll: boolean;
  lastError: string | undefined;
}

function positiveInt(value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? Math.min(value, max) : fallback;
}

function timeSpanInMs(value: unknown, fallback: number): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value; // Functions 1.x wrote milliseconds.
  if (typeof value === 'string') return tryParseTimeSpanInMs(value) ?? fallback;
  return fallback;
}

/** The invisibility a received message gets while it runs (the host's 10 minutes). */
const RUNNING_VISIBILITY_SECONDS = 600;

export function createQueueExtension(services: HostServices, options: QueueExtensionOptions = {}): HostExtension {
  const { logger } = services;
  const setting = options.setting ?? processSetting;
  const clients = new StorageClients(setting);
  const config = (services.hostJson.extensions?.['queues'] ?? {}) as Record<string, unknown>;
  const batchSize = positiveInt(config['batchSize'], 16, 32);
  const newBatchThreshold =
    typeof config['newBatchThreshold'] === 'number' && config['newBatchThreshold'] >= 0 ? config['newBatchThreshold'] : Math.floor((availableParallelism() * batchSize) / 2);
  const maxDequeueCount = positiveInt(config['maxDequeueCount'], 5);
  const maxPollingIntervalInMs = Math.max(100, timeSpanInMs(config['maxPollingInterval'], 60_000));
  const visibilityTimeoutSeconds = Math.round(timeSpanInMs(config['visibilityTimeout'], 0) / 1000);
  const encoding: MessageEncoding = typeof config['messageEncoding'] === 'string' && config['messageEncoding'].toLowerCase() === 'none' ? 'none' : 'base64';
  const minPollingIntervalInMs = options.minPollingIntervalInMs ?? 100;
  const listeners: Listener[] = [];
  const pending = new Set<Promise<void>>();
  const createdQueues = new Set<string>();
  let running = false;

  const queueKey = (connection: unknown, name: string): string => `${clients.connectionString(connection)}|${name}`;

  const ensureQueue = async (connection: unknown, name: string): Promise<QueueClient> => {
    const client = clients.queue(connection).getQueueClient(name);
    const key = queueKey(connection, name);
    if (!createdQueues.has(key)) {
      await client.createIfNotExists();
      createdQueues.add(key);
    }
    return client;
  };

  const triggerQueueName = (fn: RegisteredFunction, binding: RpcBindingInfo): string =>
    resolveSettings(String(binding['queueName'] ?? ''), setting)
      .trim()
      .toLowerCase();

  const checkFunction = (fn: RegisteredFunction): string[] => {
    const problems: string[] = [];
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.type !== 'queueTrigger' && binding.type !== 'queue') continue;
      const where = `function "${fn.name}": queue ${binding.type === 'queueTrigger' ? 'trigger' : 'output'} "${name}"`;
      try {
        clients.queue(binding['connection']);
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
      if (typeof binding['queueName'] !== 'string' || binding['queueName'].trim() === '') {
        problems.push(`${where} needs a 'queueName'`);
        continue;
      }
      if (binding.type === 'queue' && binding.direction !== 'out') {
        problems.push(`${where}: a queue binding must be an output`);
        continue;
      }
      try {
        const queueName = triggerQueueName(fn, binding);
        // An output's name may still hold {expressions}, resolved per invocation.
        const bad = binding.type === 'queueTrigger' || !queueName.includes('{') ? queueNameProblem(queueName) : undefined;
        if (bad) problems.push(`${where}: ${bad}`);
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
    }
    return problems;
  };

  const toPoison = async (l: Listener, message: DequeuedMessageItem): Promise<void> => {
    const poison = await ensureQueue(l.connection, `${l.queueName}-poison`);
    await poison.sendMessage(message.messageText);
    await l.client.deleteMessage(message.messageId, message.popReceipt);
  };

  const processMessage = async (l: Listener, message: DequeuedMessageItem): Promise<void> => {
    const bytes = decodeQueueMessageBytes(message.messageText, encoding);
    if (bytes === undefined) {
      logger.warn(
        `Queue trigger '${l.fn.name}': message ${message.messageId} on '${l.queueName}' is not valid base64 (host.json extensions.queues.messageEncoding is "base64"); moved to '${l.queueName}-poison'.`,
      );
      await toPoison(l, message);
      return;
    }
    const metadata: Record<string, RpcTypedData> = {
      QueueTrigger: { string: bytes.toString('utf8') },
      Id: { string: message.messageId },
      DequeueCount: { int: message.dequeueCount },
      InsertionTime: { string: message.insertedOn.toISOString() },
      ExpirationTime: { string: message.expiresOn.toISOString() },
      NextVisibleTime: { string: message.nextVisibleOn.toISOString() },
      PopReceipt: { string: message.popReceipt },
    };
    // While it runs the message stays hidden: its visibility is renewed at half the hiding time,
    // as the host does, and the latest pop receipt settles it.
    let popReceipt = message.popReceipt;
    const renew = setInterval(
      () => {
        l.client
          .updateMessage(message.messageId, popReceipt, undefined, RUNNING_VISIBILITY_SECONDS)
          .then((updated) => (popReceipt = updated.popReceipt ?? popReceipt))
          .catch((error: unknown) => logger.warn(`Queue trigger '${l.fn.name}': renewing message ${message.messageId} failed: ${(error as Error)?.message ?? String(error)}`));
      },
      (RUNNING_VISIBILITY_SECONDS * 1000) / 2,
    );
    renew.unref();
    try {
      // `dataType: 'binary'` gets the message's bytes (a Buffer in Node); otherwise its text.
      const data: RpcTypedData = l.fn.trigger['dataType'] === 'binary' ? { bytes } : { string: bytes.toString('utf8') };
      await services.invoke(l.fn, { [l.fn.triggerBindingName]: data }, metadata);
    } catch {
      clearInterval(renew);
      // The invoker has logged the error.
      if (message.dequeueCount >= maxDequeueCount) {
        logger.error(
          `Queue trigger '${l.fn.name}': message ${message.messageId} failed on delivery ${message.dequeueCount} of ${maxDequeueCount}; moved to '${l.queueName}-poison'.`,
        );
        await toPoison(l, { ...message, popReceipt });
      } else {
        await l.client.updateMessage(message.messageId, popReceipt, undefined, visibilityTimeoutSeconds);
        if (visibilityTimeoutSeconds === 0) wake(l);
      }
      return;
    }
    clearInterval(renew);
    await l.client.deleteMessage(message.messageId, popReceipt);
  };

  const poll = async (l: Listener): Promise<void> => {
    if (l.inFlight > newBatchThreshold) return; // A finishing message polls again.
    let received: DequeuedMessageItem[];
    try {
      received = (await l.client.receiveMessages({ numberOfMessages: batchSize, visibilityTimeout: RUNNING_VISIBILITY_SECONDS })).receivedMessageItems;
      l.lastError = undefined;
    } catch (error) {
      if (!isNotFound(error)) {
        const text = (error as Error)?.message ?? String(error);
        if (text !== l.lastError) logger.warn(`Queue trigger '${l.fn.name}': polling '${l.queueName}' failed (retrying): ${text}`);
        l.lastError = text;
      }
      received = [];
    }
    if (received.length === 0) {
      l.delayInMs = Math.min(maxPollingIntervalInMs, l.delayInMs === 0 ? minPollingIntervalInMs : l.delayInMs * 2);
      return;
    }
    l.delayInMs = 0;
    for (const message of received) {
      l.inFlight += 1;
      const work = processMessage(l, message)
        .catch((error: unknown) => logger.error(`Queue trigger '${l.fn.name}': settling message ${message.messageId} failed: ${(error as Error)?.message ?? String(error)}`))
        .finally(() => {
          l.inFlight -= 1;
          pending.delete(work);
          if (l.inFlight <= newBatchThreshold) wake(l);
        });
      pending.add(work);
    }
  };

  const schedule = (l: Listener, delayInMs: number): void => {
    if (!running) return;
    if (l.timer) clearTimeout(l.timer);
    l.timer = setTimeout(() => {
      l.timer = undefined;
      runPoll(l);
    }, delayInMs);
    l.timer.unref();
  };

  const runPoll = (l: Listener): void => {
    if (!running) return;
    if (l.polling) {
      l.repoll = true;
      return;
    }
    l.repoll = false;
    l.polling = poll(l).finally(() => {
      l.polling = undefined;
      if (l.repoll) l.delayInMs = 0;
      // Over the threshold: the next message to finish polls again (no busy wait meanwhile).
      if (l.inFlight > newBatchThreshold) return;
      schedule(l, l.delayInMs);
    });
  };

  function wake(l: Listener): void {
    l.delayInMs = 0;
    if (l.polling) l.repoll = true;
    else schedule(l, 0);
  }

  const outputQueueName = (binding: RpcBindingInfo, fn: RegisteredFunction, invocation: InvocationBindingContext | undefined): string => {
    const name = resolveTemplate(String(binding['queueName']), bindingDataFor(fn, invocation ?? { inputs: {}, triggerMetadata: {} }), setting)
      .trim()
      .toLowerCase();
    const bad = queueNameProblem(name);
    if (bad) throw new BindingExpressionError(`function "${fn.name}": ${bad}`);
    return name;
  };

  return {
    triggerTypes: ['queueTrigger'],
    bindingTypes: ['queue'],
    checkFunction,

    async deliverOutputs(fn, outcome, invocation) {
      for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
        if (binding.type !== 'queue' || binding.direction !== 'out') continue;
        const messages = queueMessages(name === '$return' ? outcome.returnValue : outcome.outputs.get(name), `function "${fn.name}"`);
        if (messages.length === 0) continue;
        const queueName = outputQueueName(binding, fn, invocation);
        const client = await ensureQueue(binding['connection'], queueName);
        for (const message of messages) await client.sendMessage(encodeQueueMessage(message, encoding));
        const key = queueKey(binding['connection'], queueName);
        for (const l of listeners) if (queueKey(l.connection, l.queueName) === key) wake(l);
      }
    },

    async invokeFromAdmin(fn, input) {
      // As the host's admin API: the input is the message, the function runs without a queue.
      void services.invoke(fn, { [fn.triggerBindingName]: { string: input ?? '' } }, { QueueTrigger: { string: input ?? '' }, DequeueCount: { int: 1 } }).catch(() => undefined);
    },

    async start(): Promise<void> {
      running = true;
      for (const fn of services.functions.values()) {
        if (fn.trigger.type !== 'queueTrigger') continue;
        const queueName = triggerQueueName(fn, fn.trigger);
        const connection = fn.trigger['connection'];
        const l: Listener = {
          fn,
          queueName,
          connection,
          client: clients.queue(connection).getQueueClient(queueName),
          inFlight: 0,
          delayInMs: 0,
          timer: undefined,
          polling: undefined,
          repoll: false,
          lastError: undefined,
        };
        listeners.push(l);
        logger.info(
          `Queue trigger: '${fn.name}' listens on storage queue '${queueName}' (batchSize ${batchSize}, maxDequeueCount ${maxDequeueCount}, messageEncoding ${encoding}).`,
        );
        schedule(l, 0);
      }
    },

    async stop(): Promise<void> {
      running = false;
      for (const l of listeners) if (l.timer) clearTimeout(l.timer);
      await Promise.all(listeners.map(async (l) => l.polling));
      await Promise.all([...pending]);
      listeners.length = 0;
    },
  };
}
