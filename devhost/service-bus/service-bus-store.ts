import { randomUUID } from 'node:crypto';
import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import { inTransaction, isStorageFault, storageHealth, type StorageHealth } from '../host/storage.js';

/**
 * Service Bus queues for the devhost, kept in the devhost's SQLite database so messages survive a
 * restart. Semantics follow the real service's peek-lock mode:
 *
 * - `receive` locks messages for a duration and counts the delivery (DeliveryCount goes up on
 *   receive, not on failure).
 * - `complete` removes a message; `abandon` releases it for immediate redelivery, or moves it to
 *   the dead-letter sub-queue once DeliveryCount has reached `maxDeliveryCount`.
 * - A lock that expires behaves like an abandon on the next receive.
 * - Settling with an expired or unknown lock throws {@link MessageLockLostError}, as the service
 *   does; the message stays in the queue.
 * - Queue names are case-insensitive, as Service Bus entity names are.
 *
 * - Fails closed: a mutation the database cannot store throws `StorageUnavailableError` (503) and
 *   marks the shared {@link StorageHealth} unhealthy; until it is healthy again every mutation
 *   throws it at once, so no sender or settler is told that something was stored when it was not.
 *   Statements are prepared again when the health reopens the connection.
 *
 * Not modelled: sessions, topics, time-to-live, deferral, duplicate detection, size quotas.
 * Sequence numbers increase across the whole store, not per queue.
 */

/** Values the service accepts as application properties (the subset the devhost supports). */
export type ApplicationPropertyValue = string | number | boolean;

/** A message to send. `body` decides how it is stored: see {@link MessageBodyKind}. */
export interface ServiceBusMessageInput {
  /** A string, bytes (`Uint8Array`/`Buffer`/`ArrayBuffer`), or any JSON-serialisable value. */
  body: unknown;
  /** At most 128 characters. Defaults to a random UUID in hex without dashes, as the .NET SDK does. */
  messageId?: string;
  correlationId?: string;
  sessionId?: string;
  contentType?: string;
  subject?: string;
  replyTo?: string;
  applicationProperties?: Record<string, ApplicationPropertyValue>;
  /** The message stays invisible to receivers until this time (UTC). */
  scheduledEnqueueTimeUtc?: Date;
}

/**
 * How a body was sent: `string` (text), `json` (a serialised JSON value) or `bytes`. The Service
 * Bus trigger hands these to the worker as `{string}`, `{json}` and `{bytes}` typed data.
 */
export type MessageBodyKind = 'string' | 'json' | 'bytes';

/** A message as stored, returned by receive and peek. Dates are UTC instants. */
export interface StoredServiceBusMessage {
  /** Lower-cased queue name. */
  queue: string;
  sequenceNumber: number;
  messageId: string;
  bodyKind: MessageBodyKind;
  /** The decoded body: the string, the parsed JSON value, or the bytes. */
  body: unknown;
  /** The body as stored: text for `string` and `json` (the JSON text), bytes for `bytes`. */
  rawBody: string | Uint8Array;
  correlationId?: string;
  sessionId?: string;
  contentType?: string;
  subject?: string;
  replyTo?: string;
  applicationProperties: Record<string, ApplicationPropertyValue>;
  /** When the message became visible: its send time, or its scheduled time if later. */
  enqueuedTimeUtc: Date;
  scheduledEnqueueTimeUtc?: Date;
  /** Deliveries so far, counting the current one for a received message. */
  deliveryCount: number;
  /** `scheduled` until the scheduled enqueue time passes. */
  state: 'active' | 'scheduled' | 'deadLettered';
  lockToken?: string;
  lockedUntilUtc?: Date;
  deadLetterReason?: string;
  deadLetterErrorDescription?: string;
}

/** Reported once per message moved to a dead-letter sub-queue. */
export interface DeadLetterEvent {
  queue: string;
  messageId: string;
  sequenceNumber: number;
  deliveryCount: number;
  reason: string;
  description: string | undefined;
}

export interface ServiceBusQueueStoreOptions {
  /**
   * Deliveries after which an abandoned (or lock-expired) message is dead-lettered with reason
   * `MaxDeliveryCountExceeded`. A queue property in Azure (default 10); one value per store here.
   * Integer, at least 1.
   */
  maxDeliveryCount?: number;
  /** The clock; tests inject one to expire locks and reach scheduled times without waiting. */
  now?: () => Date;
  /** Called after the transaction that dead-lettered a message commits. */
  onDeadLetter?: (event: DeadLetterEvent) => void;
  /** Called after messages may have become receivable on `queue` (sent or released). */
  onAvailable?: (queue: string) => void;
}

/** Settling or renewing with a lock that expired, was already used, or never existed. */
export class MessageLockLostError extends Error {
  override readonly name = 'MessageLockLostError' as const;
  readonly code = 'MessageLockLost' as const;
  readonly status = 410;
  readonly retryable = false;
  constructor(readonly lockToken: string) {
    super(`The lock ${lockToken} is not held: it expired, the message was already settled, or the token is unknown. ` + 'The message (if any) stays in the queue for redelivery.');
  }
}

/** A message that the store cannot accept (bad body, property or id). */
export class InvalidServiceBusMessageError extends Error {
  override readonly name = 'InvalidServiceBusMessageError' as const;
  readonly code = 'InvalidMessage' as const;
  readonly status = 400;
  readonly retryable = false;
}

const MAX_DELIVERY_REASON = 'MaxDeliveryCountExceeded';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS service_bus_messages (
  sequence_number INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  dead_lettered INTEGER NOT NULL DEFAULT 0,
  message_id TEXT NOT NULL,
  body_kind TEXT NOT NULL CHECK (body_kind IN ('string', 'json', 'bytes')),
  body BLOB NOT NULL,
  correlation_id TEXT,
  session_id TEXT,
  content_type TEXT,
  subject TEXT,
  reply_to TEXT,
  application_properties TEXT NOT NULL DEFAULT '{}',
  enqueued_at INTEGER NOT NULL,
  scheduled_at INTEGER,
  delivery_count INTEGER NOT NULL DEFAULT 0,
  lock_token TEXT,
  locked_until INTEGER,
  dead_letter_reason TEXT,
  dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS service_bus_messages_by_queue
  ON service_bus_messages (queue, dead_lettered, sequence_number);
CREATE INDEX IF NOT EXISTS service_bus_messages_by_lock
  ON service_bus_messages (lock_token) WHERE lock_token IS NOT NULL;
`;

/** Columns every read selects, in row-mapper order. */
const COLUMNS = `sequence_number, queue, dead_lettered, message_id, body_kind, body, correlation_id, session_id,
  content_type, subject, reply_to, application_properties, enqueued_at, scheduled_at, delivery_count,
  lock_token, locked_until, dead_letter_reason, dead_letter_description`;

/** Active, unlocked (or lock expired) and visible. `?1` = queue, `?2` = now. */
const AVAILABLE = `queue = ?1 AND dead_lettered = 0 AND enqueued_at <= ?2 AND (locked_until IS NULL OR locked_until <= ?2)`;

type Statements = Record<
  'insert' | 'selectAvailable' | 'hasAvailable' | 'lockOne' | 'byLock' | 'deleteByLock' | 'release' | 'deadLetter' | 'renew' | 'expiredOverLimit' | 'peek' | 'count' | 'purge',
  StatementSync
>;

function prepareStatements(db: DatabaseSync): Statements {
  return {
    insert: db.prepare(
      `INSERT INTO service_bus_messages (queue, message_id, body_kind, body, correlation_id, session_id, content_type,
         subject, reply_to, application_properties, enqueued_at, scheduled_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING sequence_number`,
    ),
    selectAvailable: db.prepare(`SELECT sequence_number FROM service_bus_messages WHERE ${AVAILABLE} ORDER BY sequence_number LIMIT ?3`),
    hasAvailable: db.prepare(`SELECT 1 AS found FROM service_bus_messages WHERE ${AVAILABLE} LIMIT 1`),
    lockOne: db.prepare(
      `UPDATE service_bus_messages SET delivery_count = delivery_count + 1, lock_token = ?, locked_until = ?
       WHERE sequence_number = ? RETURNING ${COLUMNS}`,
    ),
    byLock: db.prepare(`SELECT ${COLUMNS} FROM service_bus_messages WHERE lock_token = ? AND dead_lettered = 0`),
    deleteByLock: db.prepare(`DELETE FROM service_bus_messages WHERE lock_token = ? AND dead_lettered = 0 AND locked_until > ?`),
    release: db.prepare(`UPDATE service_bus_messages SET lock_token = NULL, locked_until = NULL WHERE sequence_number = ?`),
    deadLetter: db.prepare(
      `UPDATE service_bus_messages SET dead_lettered = 1, lock_token = NULL, locked_until = NULL,
         dead_letter_reason = ?, dead_letter_description = ? WHERE sequence_number = ?`,
    ),
    renew: db.prepare(`UPDATE service_bus_messages SET locked_until = ? WHERE lock_token = ? AND dead_lettered = 0 AND locked_until > ?`),
    expiredOverLimit: db.prepare(
      `SELECT ${COLUMNS} FROM service_bus_messages
       WHERE queue = ? AND dead_lettered = 0 AND locked_until IS NOT NULL AND locked_until <= ? AND delivery_count >= ?`,
    ),
    peek: db.prepare(`SELECT ${COLUMNS} FROM service_bus_messages WHERE queue = ? AND dead_lettered = ? ORDER BY sequence_number LIMIT ?`),
    count: db.prepare(`SELECT COUNT(*) AS n FROM service_bus_messages WHERE queue = ? AND dead_lettered = ?`),
    purge: db.prepare(`DELETE FROM service_bus_messages WHERE queue = ? AND dead_lettered = ?`),
  };
}

/**
 * Persistent peek-lock queues over the devhost database. All methods are synchronous (SQLite);
 * each call that changes several rows runs in one transaction. Not safe to call from inside
 * another `inTransaction` on the same database (transactions do not nest).
 */
export class ServiceBusQueueStore {
  readonly maxDeliveryCount: number;
  readonly #db: DatabaseSync;
  readonly #now: () => Date;
  readonly #onDeadLetter: ((event: DeadLetterEvent) => void) | undefined;
  readonly #onAvailable: ((queue: string) => void) | undefined;
  readonly #health: StorageHealth;
  #generation: number;
  #prepared: Statements;

  /** The prepared statements of the current connection (prepared again after a reopen). */
  get #sql(): Statements {
    if (this.#generation !== this.#health.generation) {
      this.#prepared = prepareStatements(this.#db);
      this.#generation = this.#health.generation;
    }
    return this.#prepared;
  }

  /**
   * Creates the table if needed. `db` stays owned by the caller; close it only after the last
   * call on this store.
   */
  constructor(db: DatabaseSync, options: ServiceBusQueueStoreOptions = {}) {
    const maxDeliveryCount = options.maxDeliveryCount ?? 10;
    if (!Number.isInteger(maxDeliveryCount) || maxDeliveryCount < 1) {
      throw new RangeError(`maxDeliveryCount must be an integer >= 1 (got ${maxDeliveryCount}).`);
    }
    this.maxDeliveryCount = maxDeliveryCount;
    this.#db = db;
    this.#now = options.now ?? (() => new Date());
    this.#onDeadLetter = options.onDeadLetter;
    this.#onAvailable = options.onAvailable;
    db.exec(SCHEMA);
    this.#health = storageHealth(db);
    this.#generation = this.#health.generation;
    this.#prepared = prepareStatements(db);
  }

  /**
   * Enqueues one message or several (in one transaction, sequence numbers in array order).
   *
   * @returns each stored message's id and sequence number, in input order.
   * @throws InvalidServiceBusMessageError for a body that cannot be stored (undefined, a function,
   *   a symbol), a message id over 128 characters, or an application property that is not a
   *   string, finite number or boolean. Nothing is stored then.
   */
  send(queue: string, messages: ServiceBusMessageInput | readonly ServiceBusMessageInput[]): { messageId: string; sequenceNumber: number }[] {
    const name = normalizeQueue(queue);
    const list = Array.isArray(messages) ? (messages as readonly ServiceBusMessageInput[]) : [messages as ServiceBusMessageInput];
    const prepared = list.map((m, i) => prepareMessage(m, list.length > 1 ? `message ${i}` : 'message'));
    const now = this.#now().getTime();
    const sent = this.#write(() =>
      inTransaction(this.#db, () =>
        prepared.map((m) => {
          const enqueuedAt = m.scheduledAt !== undefined && m.scheduledAt > now ? m.scheduledAt : now;
          const row = this.#sql.insert.get(
            name,
            m.messageId,
            m.kind,
            m.body,
            m.correlationId,
            m.sessionId,
            m.contentType,
            m.subject,
            m.replyTo,
            m.applicationProperties,
            enqueuedAt,
            m.scheduledAt ?? null,
          );
          return { messageId: m.messageId, sequenceNumber: toNumber(row?.['sequence_number']) };
        }),
      ),
    );
    if (sent.length > 0) this.#onAvailable?.(name);
    return sent;
  }

  /**
   * Peek-lock receive: locks up to `maxMessages` visible messages in sequence order for
   * `lockDurationInMs`, counting one delivery for each. Messages whose lock expired after their
   * last allowed delivery are dead-lettered first (as the service does on lock expiry).
   *
   * @param options.maxMessages integer >= 1.
   * @param options.lockDurationInMs integer >= 1; the service's default is 60 000.
   */
  receive(queue: string, options: { maxMessages: number; lockDurationInMs: number }): StoredServiceBusMessage[] {
    const name = normalizeQueue(queue);
    assertPositiveInteger('maxMessages', options.maxMessages);
    assertPositiveInteger('lockDurationInMs', options.lockDurationInMs);
    const now = this.#now().getTime();
    const deadLettered: DeadLetterEvent[] = [];
    const received = this.#write(() =>
      inTransaction(this.#db, () => {
        deadLettered.push(...this.#deadLetterExpired(name, now));
        const ids = this.#sql.selectAvailable.all(name, now, options.maxMessages).map((r) => toNumber(r['sequence_number']));
        return ids.map((id) => {
          const row = this.#sql.lockOne.get(randomUUID(), now + options.lockDurationInMs, id);
          if (!row) throw new Error(`Message ${id} vanished while being locked.`);
          return toMessage(row, now);
        });
      }),
    );
    this.#report(deadLettered);
    return received;
  }

  /** Whether `receive` would return at least one message now (ignores locks not yet expired). */
  hasAvailable(queue: string): boolean {
    return this.#sql.hasAvailable.get(normalizeQueue(queue), this.#now().getTime()) !== undefined;
  }

  /**
   * Removes a received message. Idempotency: a second call throws, as the service does.
   *
   * @throws MessageLockLostError when the lock expired or the token is unknown.
   */
  complete(lockToken: string): void {
    const result = this.#write(() => this.#sql.deleteByLock.run(lockToken, this.#now().getTime()));
    if (Number(result.changes) === 0) throw new MessageLockLostError(lockToken);
  }

  /**
   * Gives a received message back. It is receivable again at once, unless its delivery count has
   * reached `maxDeliveryCount`: then it moves to the dead-letter sub-queue with reason
   * `MaxDeliveryCountExceeded`.
   *
   * @returns what happened to the message.
   * @throws MessageLockLostError when the lock expired or the token is unknown.
   */
  abandon(lockToken: string): 'released' | 'deadLettered' {
    const now = this.#now().getTime();
    const events: DeadLetterEvent[] = [];
    const message = this.#write(() =>
      inTransaction(this.#db, () => {
        const locked = this.#locked(lockToken, now);
        if (locked.deliveryCount >= this.maxDeliveryCount) {
          events.push(this.#moveToDeadLetter(locked, MAX_DELIVERY_REASON, maxDeliveryDescription(locked.deliveryCount)));
        } else {
          this.#sql.release.run(locked.sequenceNumber);
        }
        return locked;
      }),
    );
    this.#report(events);
    if (events.length > 0) return 'deadLettered';
    this.#onAvailable?.(message.queue);
    return 'released';
  }

  /**
   * Releases a lock without the dead-letter check: for a host that stops before handing the message
   * to a function. The delivery stays counted, as it does in the service.
   *
   * @throws MessageLockLostError when the lock expired or the token is unknown.
   */
  release(lockToken: string): void {
    const now = this.#now().getTime();
    const message = this.#write(() =>
      inTransaction(this.#db, () => {
        const locked = this.#locked(lockToken, now);
        this.#sql.release.run(locked.sequenceNumber);
        return locked;
      }),
    );
    this.#onAvailable?.(message.queue);
  }

  /**
   * Moves a received message to the dead-letter sub-queue with a reason and description, as
   * `ServiceBusReceiver.deadLetterMessage` does.
   *
   * @throws MessageLockLostError when the lock expired or the token is unknown.
   */
  deadLetter(lockToken: string, reason: string, description?: string): void {
    const now = this.#now().getTime();
    const event = this.#write(() => inTransaction(this.#db, () => this.#moveToDeadLetter(this.#locked(lockToken, now), reason, description)));
    this.#report([event]);
  }

  /**
   * Extends a held lock to `now + lockDurationInMs`.
   *
   * @returns the new lock expiry (UTC).
   * @throws MessageLockLostError when the lock already expired or the token is unknown.
   */
  renewLock(lockToken: string, lockDurationInMs: number): Date {
    assertPositiveInteger('lockDurationInMs', lockDurationInMs);
    const now = this.#now().getTime();
    const result = this.#write(() => this.#sql.renew.run(now + lockDurationInMs, lockToken, now));
    if (Number(result.changes) === 0) throw new MessageLockLostError(lockToken);
    return new Date(now + lockDurationInMs);
  }

  /**
   * Reads messages without locking them, in sequence order: every message in the queue (scheduled
   * and locked ones too) or, with `deadLetter`, in its dead-letter sub-queue.
   *
   * @param options.maxMessages default 100.
   */
  peek(queue: string, options: { deadLetter?: boolean; maxMessages?: number } = {}): StoredServiceBusMessage[] {
    const name = normalizeQueue(queue);
    const max = options.maxMessages ?? 100;
    assertPositiveInteger('maxMessages', max);
    const now = this.#now().getTime();
    if (!options.deadLetter) this.#sweep(name, now);
    return this.#sql.peek.all(name, options.deadLetter ? 1 : 0, max).map((row) => toMessage(row, now));
  }

  /** Messages in the queue (scheduled and locked included) or in its dead-letter sub-queue. */
  count(queue: string, options: { deadLetter?: boolean } = {}): number {
    const name = normalizeQueue(queue);
    if (!options.deadLetter) this.#sweep(name, this.#now().getTime());
    return toNumber(this.#sql.count.get(name, options.deadLetter ? 1 : 0)?.['n']);
  }

  /**
   * Deletes every message in the queue, or with `deadLetter` in its dead-letter sub-queue
   * (the other sub-queue is untouched). Outstanding locks on purged messages are lost.
   *
   * @returns how many messages were deleted.
   */
  purge(queue: string, options: { deadLetter?: boolean } = {}): number {
    const name = normalizeQueue(queue);
    return Number(this.#write(() => this.#sql.purge.run(name, options.deadLetter ? 1 : 0)).changes);
  }

  /**
   * Runs a mutation; a storage fault becomes `StorageUnavailableError` and marks the store
   * unhealthy. While it is unhealthy, throws that error without touching the database.
   */
  #write<T>(work: () => T): T {
    this.#health.assertWritable();
    try {
      return work();
    } catch (error) {
      if (isStorageFault(error)) throw this.#health.fail(error);
      throw error;
    }
  }

  /** Dead-letters expired locks that used their last delivery; reports after the commit. */
  #sweep(queue: string, now: number): void {
    const events = this.#write(() => inTransaction(this.#db, () => this.#deadLetterExpired(queue, now)));
    this.#report(events);
  }

  #deadLetterExpired(queue: string, now: number): DeadLetterEvent[] {
    return this.#sql.expiredOverLimit
      .all(queue, now, this.maxDeliveryCount)
      .map((row) => toMessage(row, now))
      .map((m) => this.#moveToDeadLetter(m, MAX_DELIVERY_REASON, maxDeliveryDescription(m.deliveryCount)));
  }

  #locked(lockToken: string, now: number): StoredServiceBusMessage {
    const row = this.#sql.byLock.get(lockToken);
    const message = row ? toMessage(row, now) : undefined;
    if (!message?.lockedUntilUtc || message.lockedUntilUtc.getTime() <= now) throw new MessageLockLostError(lockToken);
    return message;
  }

  #moveToDeadLetter(message: StoredServiceBusMessage, reason: string, description: string | undefined): DeadLetterEvent {
    this.#sql.deadLetter.run(reason, description ?? null, message.sequenceNumber);
    return {
      queue: message.queue,
      messageId: message.messageId,
      sequenceNumber: message.sequenceNumber,
      deliveryCount: message.deliveryCount,
      reason,
      description,
    };
  }

  #report(events: readonly DeadLetterEvent[]): void {
    for (const event of events) this.#onDeadLetter?.(event);
  }
}

/** The service's wording for the MaxDeliveryCountExceeded description. */
function maxDeliveryDescription(deliveryCount: number): string {
  return `Message could not be consumed after ${deliveryCount} delivery attempts.`;
}

function normalizeQueue(queue: string): string {
  const name = queue.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9._\-/]{0,259}$/.test(name) || name.endsWith('/') || name.endsWith('.')) {
    throw new InvalidServiceBusMessageError(`'${queue}' is not a valid queue name: use 1-260 letters, digits, '.', '-', '_' or '/', starting with a letter or digit.`);
  }
  return name;
}

function assertPositiveInteger(label: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${label} must be an integer >= 1 (got ${value}).`);
}

interface PreparedMessage {
  messageId: string;
  kind: MessageBodyKind;
  body: string | Uint8Array;
  correlationId: string | null;
  sessionId: string | null;
  contentType: string | null;
  subject: string | null;
  replyTo: string | null;
  applicationProperties: string;
  scheduledAt: number | undefined;
}

function prepareMessage(message: ServiceBusMessageInput, label: string): PreparedMessage {
  const invalid = (detail: string): never => {
    throw new InvalidServiceBusMessageError(`${label}: ${detail}`);
  };
  if (typeof message !== 'object' || message === null) return invalid('expected an object with a body');
  const { kind, body } = encodeBody(message.body, invalid);
  const messageId = message.messageId ?? randomUUID().replaceAll('-', '');
  if (messageId.length === 0 || messageId.length > 128) invalid('messageId must be 1-128 characters');
  const properties = message.applicationProperties ?? {};
  for (const [key, value] of Object.entries(properties)) {
    const ok = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (!ok) invalid(`application property '${key}' must be a string, a finite number or a boolean`);
  }
  const scheduled = message.scheduledEnqueueTimeUtc;
  if (scheduled !== undefined && Number.isNaN(scheduled.getTime())) invalid('scheduledEnqueueTimeUtc is an invalid date');
  return {
    messageId,
    kind,
    body,
    correlationId: message.correlationId ?? null,
    sessionId: message.sessionId ?? null,
    contentType: message.contentType ?? null,
    subject: message.subject ?? null,
    replyTo: message.replyTo ?? null,
    applicationProperties: JSON.stringify(properties),
    scheduledAt: scheduled?.getTime(),
  };
}

function encodeBody(body: unknown, invalid: (detail: string) => never): { kind: MessageBodyKind; body: string | Uint8Array } {
  if (typeof body === 'string') return { kind: 'string', body };
  if (body instanceof Uint8Array) return { kind: 'bytes', body: new Uint8Array(body) };
  if (body instanceof ArrayBuffer) return { kind: 'bytes', body: new Uint8Array(body.slice(0)) };
  if (ArrayBuffer.isView(body)) return { kind: 'bytes', body: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) };
  if (body === undefined) return invalid('body is required (use null or "" for an empty message)');
  const text = JSON.stringify(body);
  if (typeof text !== 'string') return invalid(`a ${typeof body} body cannot be serialised to JSON`);
  return { kind: 'json', body: text };
}

function toNumber(value: SQLOutputValue | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw new Error(`Expected a number from the database, got ${typeof value}.`);
}

function optionalText(value: SQLOutputValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function toMessage(row: Record<string, SQLOutputValue>, now: number): StoredServiceBusMessage {
  const kind = row['body_kind'];
  if (kind !== 'string' && kind !== 'json' && kind !== 'bytes') throw new Error(`Unknown body kind ${String(kind)}.`);
  const stored = row['body'];
  let rawBody: string | Uint8Array;
  let body: unknown;
  if (kind === 'bytes') {
    rawBody = stored instanceof Uint8Array ? stored : new TextEncoder().encode(String(stored));
    body = rawBody;
  } else {
    rawBody = typeof stored === 'string' ? stored : new TextDecoder().decode(stored instanceof Uint8Array ? stored : new Uint8Array());
    body = kind === 'json' ? (JSON.parse(rawBody) as unknown) : rawBody;
  }
  const enqueuedAt = toNumber(row['enqueued_at']);
  const scheduledAt = row['scheduled_at'];
  const lockedUntil = row['locked_until'];
  const deadLettered = toNumber(row['dead_lettered']) === 1;
  const message: StoredServiceBusMessage = {
    queue: String(row['queue']),
    sequenceNumber: toNumber(row['sequence_number']),
    messageId: String(row['message_id']),
    bodyKind: kind,
    body,
    rawBody,
    applicationProperties: JSON.parse(String(row['application_properties'])) as Record<string, ApplicationPropertyValue>,
    enqueuedTimeUtc: new Date(enqueuedAt),
    deliveryCount: toNumber(row['delivery_count']),
    state: deadLettered ? 'deadLettered' : enqueuedAt > now ? 'scheduled' : 'active',
  };
  for (const [key, column] of [
    ['correlationId', 'correlation_id'],
    ['sessionId', 'session_id'],
    ['contentType', 'content_type'],
    ['subject', 'subject'],
    ['replyTo', 'reply_to'],
    ['lockToken', 'lock_token'],
    ['deadLetterReason', 'dead_letter_reason'],
    ['deadLetterErrorDescription', 'dead_letter_description'],
  ] as const) {
    const value = optionalText(row[column]);
    if (value !== undefined) message[key] = value;
  }
  if (scheduledAt !== null && scheduledAt !== undefined) message.scheduledEnqueueTimeUtc = new Date(toNumber(scheduledAt));
  if (lockedUntil !== null && lockedUntil !== undefined) message.lockedUntilUtc = new Date(toNumber(lockedUntil));
  return message;
}
