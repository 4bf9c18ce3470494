import { readFile } from 'node:fs/promises';
import type { TokenCredential } from '@azure/identity';
import { ServiceBusClient, type ServiceBusSender } from '@azure/service-bus';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { RunReply } from './reply-types.js';

/**
 * Publishes a finished run's result to the reply queue a queued request named. Called only from
 * the `publishRunReply` activity, whose Durable retry policy is the one retry layer
 * (CONVENTIONS.md 8): adapters try once and throw an error with a `retryable` flag.
 *
 * Idempotency: the message id is derived from the run id, so a publish repeated after a lost
 * acknowledgement is a duplicate the queue's duplicate detection can drop (when enabled).
 */
export interface ReplyPublisher {
  publish(queue: string, reply: RunReply): Promise<void>;
}

/** Publishing failed; `retryable` says whether another attempt may succeed. */
export class ReplyPublishError extends AppError {
  override readonly name = 'ReplyPublishError';
  constructor(message: string, status: number, options: { retryable: boolean; cause?: unknown }) {
    super('reply_publish_failed', status, message, options);
  }
}

/** The message id of a run's reply: one per run, so redelivery is detectable. */
export function replyMessageId(reply: RunReply): string {
  return `${reply.runId}:reply`;
}

/** The reply as one Service Bus message, the same whichever transport sends it. */
function replyMessage(reply: RunReply) {
  return {
    body: reply,
    contentType: 'application/json',
    messageId: replyMessageId(reply),
    correlationId: reply.correlationId,
    subject: 'agent-run-result',
  };
}

/**
 * Azure adapter: `@azure/service-bus` with an identity-based connection (the namespace's fully
 * qualified name and a token credential; the app's identity needs *Azure Service Bus Data
 * Sender* on the queue). Senders are cached per queue; the client connects on first publish.
 */
export class ServiceBusReplyPublisher implements ReplyPublisher {
  readonly #client: ServiceBusClient;
  readonly #senders = new Map<string, ServiceBusSender>();

  constructor(fullyQualifiedNamespace: string, credential: TokenCredential) {
    // maxRetries 0: the Durable activity retry policy owns retries.
    this.#client = new ServiceBusClient(fullyQualifiedNamespace, credential, { retryOptions: { maxRetries: 0 } });
  }

  async publish(queue: string, reply: RunReply): Promise<void> {
    let sender = this.#senders.get(queue);
    if (!sender) {
      sender = this.#client.createSender(queue);
      this.#senders.set(queue, sender);
    }
    try {
      await sender.sendMessages(replyMessage(reply));
    } catch (error) {
      // The SDK marks transient failures (busy, timeouts, connection loss) as retryable; a
      // missing queue or a denied identity will not fix itself.
      const retryable = (error as { retryable?: unknown }).retryable === true;
      throw new ReplyPublishError(`publishing the reply to '${queue}' failed: ${(error as Error).message}`, retryable ? 503 : 502, { retryable, cause: error });
    }
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

const KeyFileSchema = z.object({ masterKey: z.string().min(1) });

/**
 * Local adapter: posts to the devhost's queue admin API
 * (`POST {adminUrl}/admin/devhost/queues/{queue}/messages`) with the devhost master key, read
 * from the devhost's key file at publish time (the file exists only once the devhost runs).
 * Reached through settings only; the app never imports the devhost.
 */
export class DevhostQueueReplyPublisher implements ReplyPublisher {
  constructor(
    private readonly adminUrl: string,
    private readonly keyFile: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async publish(queue: string, reply: RunReply): Promise<void> {
    const key = await this.#masterKey();
    const url = `${this.adminUrl.replace(/\/+$/, '')}/admin/devhost/queues/${encodeURIComponent(queue)}/messages`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-functions-key': key },
        body: JSON.stringify(replyMessage(reply)),
      });
    } catch (error) {
      throw new ReplyPublishError(`the local queue API at ${url} is unreachable: ${(error as Error).message}`, 503, { retryable: true, cause: error });
    }
    if (!response.ok) {
      const detail = await response.text().catch(() => '');
      const retryable = response.status === 429 || response.status >= 500;
      throw new ReplyPublishError(`the local queue API answered ${response.status}: ${detail.slice(0, 500)}`, response.status, { retryable });
    }
  }

  async #masterKey(): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.keyFile, 'utf8');
    } catch (error) {
      // The devhost may not have written it yet: worth another attempt.
      throw new ReplyPublishError(`cannot read the devhost key file ${this.keyFile}: ${(error as Error).message}`, 503, { retryable: true, cause: error });
    }
    const parsed = KeyFileSchema.safeParse(JSON.parse(text) as unknown);
    if (!parsed.success) throw new ReplyPublishError(`${this.keyFile} has no masterKey`, 500, { retryable: false });
    return parsed.data.masterKey;
  }
}

/** Used when no reply transport is configured: a request naming a reply queue cannot be served. */
export class UnconfiguredReplyPublisher implements ReplyPublisher {
  async publish(queue: string): Promise<void> {
    throw new ReplyPublishError(
      `no reply transport is configured (set SERVICEBUS_FULLY_QUALIFIED_NAMESPACE, or LOCAL_SERVICEBUS_ADMIN_URL locally); cannot publish to '${queue}'`,
      500,
      { retryable: false },
    );
  }
}
