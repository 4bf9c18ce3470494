import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DevhostLogger } from '../host/logger.js';
import { inTransaction, isStorageFault, sqliteMessage, storageHealth, type StorageHealth } from '../host/storage.js';
import type { HistoryEvent } from './history.js';

/**
 * The durable backend's SQLite tables and their statements.
 *
 * Writes are deferred into units (one closure per logical change: an episode's commit, an
 * activity result, a raised event) and committed together in one transaction on the next turn
 * of the event loop, or at once by {@link DurableStore.flush} before anything is reported
 * outside the process (HTTP responses) and before reads. A unit is never split across
 * transactions, so the file always holds a consistent state: a SIGKILL loses at most the units
 * of the current turn, which is the same as having been killed a moment earlier.
 *
 * Fails closed: a commit that fails keeps its units, in order, at the head of the queue (units
 * deferred meanwhile queue behind them) and marks the connection's {@link StorageHealth}
 * unhealthy; `flush` then throws `StorageUnavailableError` (the HTTP API answers 503) until the
 * health's retry loop commits them. Nothing is dropped and nothing uncommitted is acknowledged.
 */

/** Runtime status names, as the status API reports them. */
export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

export const TERMINAL_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Canceled', 'Terminated']);

export const RUNTIME_STATUSES: readonly RuntimeStatus[] = ['Pending', 'Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Suspended'];

/** Every status that is not in {@link TERMINAL_STATUSES}. */
const NON_TERMINAL_STATUSES: readonly RuntimeStatus[] = RUNTIME_STATUSES.filter((s) => !TERMINAL_STATUSES.has(s));

/** One orchestration instance (the current execution; older generations are not kept). */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  /** JSON text. */
  input: string | null;
  /** JSON text; for Failed and Terminated the reason text (not necessarily JSON). */
  output: string | null;
  /** JSON text. */
  customStatus: string | null;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  parentInstanceId: string | null;
  parentExecutionId: string | null;
  parentTaskId: number | null;
}

/** A message waiting for an instance's next episode. */
export interface InboxRecord {
  seq: number;
  instanceId: string;
  /** Only this execution may consume it (task results); `null` for any (events, control). */
  executionId: string | null;
  event: HistoryEvent;
}

/** An operation request queued for an entity (the extension's `RequestMessage`, simplified). */
export interface EntityRequest {
  /** Request id (a GUID); the response is raised on the caller under this name. */
  id: string;
  op: string;
  /** JSON text. */
  input?: string;
  signal: boolean;
  /** Caller instance and execution, for calls. */
  parent?: string;
  parentExecution?: string;
}

export interface EntityRequestRecord {
  seq: number;
  entityId: string;
  request: EntityRequest;
}

export interface EntityRecord {
  /** `@name@key`, name lower-cased. */
  entityId: string;
  name: string;
  key: string;
  exists: boolean;
  /** JSON text. */
  state: string | null;
  updatedAt: number;
}

/** Filters of the list and purge APIs. */
export interface InstanceQuery {
  createdFrom?: number;
  createdTo?: number;
  statuses?: readonly RuntimeStatus[];
  instanceIdPrefix?: string;
  limit?: number;
  offset?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS durable_instances (
  instance_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  custom_status TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  parent_instance_id TEXT,
  parent_execution_id TEXT,
  parent_task_id INTEGER
);
CREATE INDEX IF NOT EXISTS durable_instances_status ON durable_instances (status);
-- Lists are ordered by (created_at, instance_id): with this index a page (LIMIT/OFFSET) reads
-- only the rows up to it instead of sorting every instance. It replaces the index on created_at
-- alone of earlier databases (a prefix of this one, so redundant).
DROP INDEX IF EXISTS durable_instances_created;
CREATE INDEX IF NOT EXISTS durable_instances_created_id ON durable_instances (created_at, instance_id);
CREATE TABLE IF NOT EXISTS durable_history (
  instance_id TEXT NOT NULL,
  chunk INTEGER NOT NULL,
  events TEXT NOT NULL,
  PRIMARY KEY (instance_id, chunk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS durable_inbox (
  seq INTEGER PRIMARY KEY,
  instance_id TEXT NOT NULL,
  execution_id TEXT,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS durable_inbox_instance ON durable_inbox (instance_id);
CREATE TABLE IF NOT EXISTS durable_entities (
  entity_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  key TEXT NOT NULL,
  present INTEGER NOT NULL,
  state TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS durable_entity_queue (
  seq INTEGER PRIMARY KEY,
  entity_id TEXT NOT NULL,
  request TEXT NOT NULL
);
`;

interface InstanceRow {
  instance_id: string;
  name: string;
  execution_id: string;
  status: string;
  input: string | null;
  output: string | null;
  custom_status: string | null;
  created_at: number;
  updated_at: number;
  parent_instance_id: string | null;
  parent_execution_id: string | null;
  parent_task_id: number | null;
}

function toInstance(row: InstanceRow): InstanceRecord {
  return {
    instanceId: row.instance_id,
    name: row.name,
    executionId: row.execution_id,
    status: row.status as RuntimeStatus,
    input: row.input,
    output: row.output,
    customStatus: row.custom_status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    parentInstanceId: row.parent_instance_id,
    parentExecutionId: row.parent_execution_id,
    parentTaskId: row.parent_task_id,
  };
}

export class DurableStore {
  readonly #db: DatabaseSync;
  readonly #logger: DevhostLogger;
  readonly #health: StorageHealth;
  #units: (() => void)[] = [];
  /** Run once the units queued before them are committed. */
  #afterCommit: (() => void)[] = [];
  #generation: number;
  readonly #removeRetry: () => void;
  #flushScheduled = false;
  #closed = false;
  #nextInboxSeq = 1;
  #nextEntitySeq = 1;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, logger: DevhostLogger) {
    this.#db = db;
    this.#logger = logger;
    this.#health = storageHealth(db, logger);
    this.#generation = this.#health.generation;
    this.#removeRetry = this.#health.addRetry(() => this.#commitPending());
    db.exec(SCHEMA);
    const inboxMax = this.#get<{ m: number | null }>('SELECT MAX(seq) AS m FROM durable_inbox');
    const entityMax = this.#get<{ m: number | null }>('SELECT MAX(seq) AS m FROM durable_entity_queue');
    this.#nextInboxSeq = (inboxMax?.m ?? 0) + 1;
    this.#nextEntitySeq = (entityMax?.m ?? 0) + 1;
  }

  #statement(sql: string): StatementSync {
    if (this.#generation !== this.#health.generation) {
      // The connection was reopened: statements of the old one are finalized.
      this.#statements.clear();
      this.#generation = this.#health.generation;
    }
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #get<T>(sql: string, ...params: (string | number | null)[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  #all<T>(sql: string, ...params: (string | number | null)[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  #run(sql: string, ...params: (string | number | null)[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  // ---- write batching -------------------------------------------------------------------

  /** Whether the store takes writes (false while commits fail; see {@link StorageHealth}). */
  get healthy(): boolean {
    return this.#health.healthy;
  }

  /** Throws `StorageUnavailableError` (503) while commits fail: callers must not take new work. */
  assertWritable(): void {
    this.#health.assertWritable();
  }

  /** Calls `listener(healthy)` when commits start failing (`false`) and once they succeed again (`true`). */
  onHealthChange(listener: (healthy: boolean) => void): () => void {
    return this.#health.onChange(listener);
  }

  /** Queues one logical change; it commits atomically with the others of this turn. */
  defer(unit: () => void): void {
    if (this.#closed) return;
    this.#units.push(unit);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flushQuietly();
      });
    }
  }

  /**
   * Runs `callback` once every unit queued so far is committed: now if nothing is pending,
   * else right after the commit that takes them (possibly after a storage fault has cleared).
   */
  afterCommit(callback: () => void): void {
    if (this.#units.length === 0 && this.#health.healthy) {
      callback();
      return;
    }
    this.#afterCommit.push(callback);
    this.#flushQuietly();
  }

  /**
   * Commits every queued change now, in one transaction. Synchronous.
   *
   * @throws StorageUnavailableError when the commit fails or the store is unhealthy; the units
   *   stay queued (in order) and are committed by the retry loop, so the caller must not report
   *   them as done.
   */
  flush(): void {
    if (this.#closed) return;
    this.#health.assertWritable();
    if (this.#units.length === 0) return;
    try {
      this.#commitPending();
    } catch (error) {
      this.#logger.error(`durable: committing ${this.#units.length} change(s) failed: ${sqliteMessage(error)}; they are kept, in order, and retried`);
      throw this.#health.fail(error);
    }
  }

  /**
   * Runs `work` (statements) in its own transaction now, after the queued units.
   *
   * @throws StorageUnavailableError when the store cannot be written (nothing was changed).
   */
  writeNow(work: () => void): void {
    this.flush();
    try {
      inTransaction(this.#db, work);
    } catch (error) {
      if (!isStorageFault(error)) throw error;
      this.#logger.error(`durable: a write failed: ${sqliteMessage(error)}`);
      throw this.#health.fail(error);
    }
  }

  #flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // Logged once by flush; the health's retry loop commits the units.
    }
  }

  /** One transaction for every queued unit; on failure they stay queued, in order. */
  #commitOneByOne(units: (() => void)[]): void {
    for (const [i, unit] of units.entries()) {
      try {
        inTransaction(this.#db, unit);
      } catch (error) {
        if (isStorageFault(error)) {
          const rest = units.slice(i);
          this.#units = this.#units.length === 0 ? rest : rest.concat(this.#units);
          throw error;
        }
        this.#logger.error(`durable: a change could not be stored and is dropped (not a storage fault): ${sqliteMessage(error)}`);
      }
    }
  }

  #commitPending(): void {
    if (this.#units.length > 0) {
      const units = this.#units;
      this.#units = [];
      try {
        inTransaction(this.#db, () => {
          for (const unit of units) unit();
        });
      } catch (error) {
        if (isStorageFault(error)) {
          this.#units = this.#units.length === 0 ? units : units.concat(this.#units);
          throw error;
        }
        // Not the store: one unit is broken (a bug, a value SQLite refuses). Retrying the batch
        // would fail the same way forever and hold the devhost at 503, so commit the units one
        // by one and drop only the ones that fail, each logged.
        this.#commitOneByOne(units);
      }
    }
    if (this.#afterCommit.length > 0) {
      for (const callback of this.#afterCommit.splice(0)) {
        try {
          callback();
        } catch (error) {
          this.#logger.error(`durable: a commit callback failed: ${(error as Error)?.stack ?? String(error)}`);
        }
      }
    }
  }

  /** Flushes and stops accepting writes (the core closes the database). */
  close(): void {
    try {
      this.flush();
    } catch {
      this.#logger.error(`durable: stopping with ${this.#units.length} change(s) not stored; none of them was acknowledged`);
    }
    this.#closed = true;
    this.#removeRetry();
  }

  /** A fresh inbox sequence number (messages are ordered by it). */
  nextInboxSeq(): number {
    return this.#nextInboxSeq++;
  }

  nextEntitySeq(): number {
    return this.#nextEntitySeq++;
  }

  // ---- statements used inside deferred units ---------------------------------------------

  saveInstance(r: InstanceRecord): void {
    this.#run(
      `INSERT INTO durable_instances (instance_id, name, execution_id, status, input, output, custom_status, created_at, updated_at, parent_instance_id, parent_execution_id, parent_task_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id) DO UPDATE SET name = excluded.name, execution_id = excluded.execution_id, status = excluded.status,
         input = excluded.input, output = excluded.output, custom_status = excluded.custom_status, created_at = excluded.created_at,
         updated_at = excluded.updated_at, parent_instance_id = excluded.parent_instance_id,
         parent_execution_id = excluded.parent_execution_id, parent_task_id = excluded.parent_task_id`,
      r.instanceId,
      r.name,
      r.executionId,
      r.status,
      r.input,
      r.output,
      r.customStatus,
      r.createdAt,
      r.updatedAt,
      r.parentInstanceId,
      r.parentExecutionId,
      r.parentTaskId,
    );
  }

  appendHistory(instanceId: string, chunk: number, eventsJson: string): void {
    this.#run('INSERT OR REPLACE INTO durable_history (instance_id, chunk, events) VALUES (?, ?, ?)', instanceId, chunk, eventsJson);
  }

  clearHistory(instanceId: string): void {
    this.#run('DELETE FROM durable_history WHERE instance_id = ?', instanceId);
  }

  insertInbox(record: InboxRecord): void {
    this.#run(
      'INSERT OR REPLACE INTO durable_inbox (seq, instance_id, execution_id, event) VALUES (?, ?, ?, ?)',
      record.seq,
      record.instanceId,
      record.executionId,
      JSON.stringify(record.event),
    );
  }

  deleteInbox(seq: number): void {
    this.#run('DELETE FROM durable_inbox WHERE seq = ?', seq);
  }

  clearInbox(instanceId: string): void {
    this.#run('DELETE FROM durable_inbox WHERE instance_id = ?', instanceId);
  }

  deleteInstance(instanceId: string): void {
    this.#run('DELETE FROM durable_instances WHERE instance_id = ?', instanceId);
    this.clearHistory(instanceId);
    this.clearInbox(instanceId);
  }

  saveEntity(r: EntityRecord): void {
    this.#run(
      `INSERT INTO durable_entities (entity_id, name, key, present, state, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (entity_id) DO UPDATE SET present = excluded.present, state = excluded.state, updated_at = excluded.updated_at`,
      r.entityId,
      r.name,
      r.key,
      r.exists ? 1 : 0,
      r.state,
      r.updatedAt,
    );
  }

  insertEntityRequest(record: EntityRequestRecord): void {
    this.#run('INSERT OR REPLACE INTO durable_entity_queue (seq, entity_id, request) VALUES (?, ?, ?)', record.seq, record.entityId, JSON.stringify(record.request));
  }

  deleteEntityRequest(seq: number): void {
    this.#run('DELETE FROM durable_entity_queue WHERE seq = ?', seq);
  }

  // ---- reads (callers flush first when they need this turn's writes) ---------------------

  getInstance(instanceId: string): InstanceRecord | undefined {
    const row = this.#get<InstanceRow>('SELECT * FROM durable_instances WHERE instance_id = ?', instanceId);
    return row ? toInstance(row) : undefined;
  }

  /**
   * Instances that are not in a terminal state. Named by status (`IN`, not `NOT IN`) so the status
   * index finds them: a start reads only the unfinished instances, however many finished ones the
   * store holds.
   */
  activeInstances(): InstanceRecord[] {
    return this.#all<InstanceRow>(
      `SELECT * FROM durable_instances WHERE status IN (${NON_TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ')}) ORDER BY created_at, instance_id`,
    ).map(toInstance);
  }

  /** The history of an instance's current execution, oldest first. */
  history(instanceId: string): HistoryEvent[] {
    const events: HistoryEvent[] = [];
    for (const row of this.#all<{ events: string }>('SELECT events FROM durable_history WHERE instance_id = ? ORDER BY chunk', instanceId)) {
      for (const event of JSON.parse(row.events) as HistoryEvent[]) events.push(event);
    }
    return events;
  }

  /** The highest history chunk number of an instance, -1 when it has none. */
  lastHistoryChunk(instanceId: string): number {
    return this.#get<{ n: number | null }>('SELECT MAX(chunk) AS n FROM durable_history WHERE instance_id = ?', instanceId)?.n ?? -1;
  }

  inbox(): InboxRecord[] {
    return this.#all<{ seq: number; instance_id: string; execution_id: string | null; event: string }>('SELECT * FROM durable_inbox ORDER BY seq').map((row) => ({
      seq: row.seq,
      instanceId: row.instance_id,
      executionId: row.execution_id,
      event: JSON.parse(row.event) as HistoryEvent,
    }));
  }

  queryInstances(query: InstanceQuery): InstanceRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.createdFrom !== undefined) {
      where.push('created_at >= ?');
      params.push(query.createdFrom);
    }
    if (query.createdTo !== undefined) {
      where.push('created_at <= ?');
      params.push(query.createdTo);
    }
    if (query.statuses && query.statuses.length > 0) {
      where.push(`status IN (${query.statuses.map(() => '?').join(', ')})`);
      params.push(...query.statuses);
    }
    if (query.instanceIdPrefix !== undefined && query.instanceIdPrefix !== '') {
      where.push('substr(instance_id, 1, ?) = ?');
      params.push(query.instanceIdPrefix.length, query.instanceIdPrefix);
    }
    let sql = `SELECT * FROM durable_instances${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, instance_id`;
    if (query.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(query.limit))} OFFSET ${Math.max(0, Math.floor(query.offset ?? 0))}`;
    return (this.#db.prepare(sql).all(...params) as unknown as InstanceRow[]).map(toInstance);
  }

  getEntity(entityId: string): EntityRecord | undefined {
    const row = this.#get<{ entity_id: string; name: string; key: string; present: number; state: string | null; updated_at: number }>(
      'SELECT * FROM durable_entities WHERE entity_id = ?',
      entityId,
    );
    return row ? { entityId: row.entity_id, name: row.name, key: row.key, exists: row.present === 1, state: row.state, updatedAt: row.updated_at } : undefined;
  }

  entities(name: string | undefined): EntityRecord[] {
    const rows =
      name === undefined
        ? this.#all<{ entity_id: string; name: string; key: string; present: number; state: string | null; updated_at: number }>(
            'SELECT * FROM durable_entities WHERE present = 1 ORDER BY entity_id',
          )
        : this.#all<{ entity_id: string; name: string; key: string; present: number; state: string | null; updated_at: number }>(
            'SELECT * FROM durable_entities WHERE present = 1 AND name = ? ORDER BY entity_id',
            name.toLowerCase(),
          );
    return rows.map((row) => ({ entityId: row.entity_id, name: row.name, key: row.key, exists: true, state: row.state, updatedAt: row.updated_at }));
  }

  entityQueue(): EntityRequestRecord[] {
    return this.#all<{ seq: number; entity_id: string; request: string }>('SELECT * FROM durable_entity_queue ORDER BY seq').map((row) => ({
      seq: row.seq,
      entityId: row.entity_id,
      request: JSON.parse(row.request) as EntityRequest,
    }));
  }
}
