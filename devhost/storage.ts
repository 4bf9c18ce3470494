import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** `memory` keeps state in the process (tests); any other value is a SQLite file path. */
export type StorageOption = 'memory' | string;

/**
 * Opens the devhost's one embedded database. Queues, durable instances, histories and timers
 * all live here so a killed devhost resumes from the file. WAL keeps writers from blocking
 * readers; `synchronous=NORMAL` trades the last transaction on power loss (not on process
 * kill) for speed, which is the right trade for a development host.
 */
export function openDatabase(storage: StorageOption): DatabaseSync {
  const location = storage === 'memory' ? ':memory:' : storage;
  if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
  const db = new DatabaseSync(location);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  return db;
}

/** Runs `work` in one transaction; rolls back and rethrows on error. Not re-entrant. */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
