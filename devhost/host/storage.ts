import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { DevhostLogger } from './logger.js';

/** `memory` keeps state in the process (tests); any other value is a SQLite file path. */
export type StorageOption = 'memory' | string;

const CONNECTION_PRAGMAS = 'PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;';
const PROBE =
  'CREATE TABLE IF NOT EXISTS devhost_write_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL); ' + 'INSERT OR REPLACE INTO devhost_write_probe (id, at) VALUES (1, unixepoch());';

/**
 * Opens the devhost's one embedded database. Queues, durable instances, histories and timers
 * all live here so a killed devhost resumes from the file. WAL keeps writers from blocking
 * readers; `synchronous=NORMAL` trades the last transaction on power loss (not on process
 * kill) for speed, which is the right trade for a development host.
 *
 * Probes with a write before returning: a file SQLite can only read (read-only file or
 * filesystem, a full disk, a newer file format) stops the devhost here, with SQLite's own
 * message, instead of failing the first run later.
 *
 * @throws Error `The devhost cannot write its state store <file>: <SQLite message>`.
 */
export function openDatabase(storage: StorageOption, options: { logger?: DevhostLogger } = {}): DatabaseSync {
  const location = storage === 'memory' ? ':memory:' : storage;
  if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
  const db = new DatabaseSync(location);
  try {
    db.exec(`PRAGMA journal_mode = WAL; ${CONNECTION_PRAGMAS}`);
    inTransaction(db, () => db.exec(PROBE));
  } catch (error) {
    db.close();
    throw new Error(`The devhost cannot write its state store ${location}: ${sqliteMessage(error)}`, { cause: error });
  }
  storageHealth(db, options.logger);
  return db;
}

/**
 * Runs `work` in one transaction; rolls back and rethrows on error. Not re-entrant.
 * Always rethrows the error that failed the work or the commit: SQLite rolls a transaction back
 * by itself after some errors (SQLITE_FULL, SQLITE_IOERR, ...), so ROLLBACK runs only when a
 * transaction is still open, and a failing ROLLBACK never hides the original error.
 */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isOpen && db.isTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The original error says what went wrong; the connection is reopened if it must be.
      }
    }
    throw error;
  }
}

// ---- store health ---------------------------------------------------------------------------

/** SQLite primary result codes that mean "the store cannot take writes now", not "bad request". */
const STORAGE_FAULT_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
]);
const SQLITE_READONLY = 8;

function sqliteCode(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

/** SQLite's own text for an error (`database or disk is full`), or the error's message. */
export function sqliteMessage(error: unknown): string {
  const e = error as { errstr?: unknown; message?: unknown } | null;
  if (typeof e?.message === 'string' && e.message !== '') return e.message;
  if (typeof e?.errstr === 'string') return e.errstr;
  return String(error);
}

/** Whether `error` says the store cannot be written (full, read-only, I/O, locked, closed). */
export function isStorageFault(error: unknown): boolean {
  if ((error as { name?: unknown } | null)?.name === 'StorageUnavailableError') return true;
  const code = sqliteCode(error);
  if (code !== undefined) return STORAGE_FAULT_CODES.has(code);
  return (error as { code?: unknown } | null)?.code === 'ERR_INVALID_STATE'; // "database is not open"
}

/** Whether the connection must be closed and opened again to write (SQLITE_READONLY, closed). */
function needsReopen(error: unknown): boolean {
  return sqliteCode(error) === SQLITE_READONLY || (error as { code?: unknown } | null)?.code === 'ERR_INVALID_STATE';
}

/** The devhost's state store cannot be written right now; nothing was acknowledged. Retry later. */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError' as const;
  readonly code = 'StorageUnavailable' as const;
  readonly status = 503;
  readonly retryable = true;
  constructor(
    readonly retryAfterInMs: number,
    cause: unknown,
  ) {
    super(`The devhost cannot write its state store (${sqliteMessage(cause)}); retrying until it is writable again.`, { cause });
  }
}

/** Seconds for a `Retry-After` header. */
export const STORAGE_RETRY_AFTER_SECONDS = 1;
const MIN_RETRY_MS = 20;
const MAX_RETRY_MS = 1000;

/**
 * Whether the devhost's database takes writes, shared by every store on one connection
 * (durable, Service Bus, timers). A store that fails a write calls {@link StorageHealth.fail};
 * from then on the devhost fails closed: the HTTP doors answer 503, the dispatchers start no new
 * work, and this object retries (the registered pending writes, then a probe write) with backoff,
 * closing and reopening the connection when SQLite reports it read-only. When every retry
 * succeeds it reports healthy again and the dispatchers resume. Nothing here restarts the host.
 */
export class StorageHealth {
  readonly #db: DatabaseSync;
  #logger: DevhostLogger | undefined;
  #error: Error | undefined;
  #generation = 0;
  #delayMs = MIN_RETRY_MS;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #retries = new Set<() => void>();
  readonly #changeListeners = new Set<(healthy: boolean) => void>();
  readonly #reopenListeners = new Set<() => void>();
  #waiters: (() => void)[] = [];

  constructor(db: DatabaseSync, logger: DevhostLogger | undefined) {
    this.#db = db;
    this.#logger = logger;
  }

  set logger(logger: DevhostLogger) {
    this.#logger ??= logger;
  }

  get healthy(): boolean {
    return this.#error === undefined;
  }

  /** The write error that made the store unhealthy, while it is. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Bumped on every reopen: statements prepared on an older generation are finalized. */
  get generation(): number {
    return this.#generation;
  }

  /** The error to answer with while unhealthy. */
  unavailable(): StorageUnavailableError {
    return new StorageUnavailableError(STORAGE_RETRY_AFTER_SECONDS * 1000, this.#error ?? new Error('the state store is unavailable'));
  }

  /** Throws {@link StorageUnavailableError} while the store is unhealthy. */
  assertWritable(): void {
    if (this.#error !== undefined) throw this.unavailable();
  }

  /** Records a failed write and starts retrying; returns the error to answer the caller with. */
  fail(error: unknown): StorageUnavailableError {
    const cause = error instanceof Error ? error : new Error(String(error));
    const first = this.#error === undefined;
    this.#error = cause;
    if (first) {
      this.#logger?.error(
        `storage: writing the state store failed: ${sqliteMessage(cause)}. The devhost answers 503 and starts no new work ` +
          'until a retry succeeds; nothing that failed to commit was acknowledged.',
      );
      this.#notify(false);
    }
    this.#schedule();
    return this.unavailable();
  }

  /** Work to redo before the store counts as healthy again (throws while it still fails). */
  addRetry(retry: () => void): () => void {
    this.#retries.add(retry);
    return () => this.#retries.delete(retry);
  }

  /** Called with `false` when writes start failing and `true` once they succeed again. */
  onChange(listener: (healthy: boolean) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Called after the connection was closed and opened again (prepare statements anew). */
  onReopen(listener: () => void): () => void {
    this.#reopenListeners.add(listener);
    return () => this.#reopenListeners.delete(listener);
  }

  /** Resolves once the store is healthy (at once if it is). */
  whenHealthy(): Promise<void> {
    if (this.healthy) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops retrying (the host is stopping). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(MAX_RETRY_MS, this.#delayMs * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retry();
    }, delay);
    this.#timer.unref();
  }

  #retry(): void {
    if (this.#closed || this.#error === undefined) return;
    try {
      if (needsReopen(this.#error) || !this.#db.isOpen) this.#reopen();
      for (const retry of this.#retries) retry();
      inTransaction(this.#db, () => this.#db.exec(PROBE));
    } catch (error) {
      this.#error = error instanceof Error ? error : new Error(String(error));
      this.#schedule();
      return;
    }
    this.#error = undefined;
    this.#delayMs = MIN_RETRY_MS;
    this.#logger?.info('storage: the state store is writable again; the devhost takes work again.');
    this.#notify(true);
  }

  #reopen(): void {
    const location = this.#db.isOpen ? this.#db.location() : null;
    if (this.#db.isOpen && location === null) return; // in-memory: reopening would lose it all
    if (this.#db.isOpen) this.#db.close();
    this.#generation++;
    this.#db.open();
    this.#db.exec(CONNECTION_PRAGMAS);
    for (const listener of this.#reopenListeners) listener();
  }

  #notify(healthy: boolean): void {
    for (const listener of this.#changeListeners) {
      try {
        listener(healthy);
      } catch (error) {
        this.#logger?.error(`storage: a health listener failed: ${String(error)}`);
      }
    }
    if (healthy) for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

const healthByDatabase = new WeakMap<DatabaseSync, StorageHealth>();

/** The health of `db`, shared by every store that uses the connection. */
export function storageHealth(db: DatabaseSync, logger?: DevhostLogger): StorageHealth {
  let health = healthByDatabase.get(db);
  if (!health) {
    health = new StorageHealth(db, logger);
    healthByDatabase.set(db, health);
  } else if (logger) {
    health.logger = logger;
  }
  return health;
}
