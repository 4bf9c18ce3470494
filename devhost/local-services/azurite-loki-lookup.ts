import { createRequire } from 'node:module';

/**
 * Preloaded into Azurite's processes (`node --import`, see azurite.ts): makes its point lookups
 * use the index they were meant to use, so the cost of reading or writing one blob does not grow
 * with the number of blobs the emulator holds.
 *
 * Azurite keeps its metadata in LokiJS collections indexed on `accountName`, `containerName`,
 * `name` (and `blobName` for blocks), and looks one item up with
 * `findOne({ accountName, containerName, name, snapshot })`. LokiJS uses a binary index only for
 * the first condition of a query, here `accountName`, which every blob of the one development
 * account shares: each lookup filtered every blob in the account (measured: a put + get of one
 * small blob took 10 ms on an empty Azurite, 31 ms after 5,000 blobs, 68 ms after 20,000). The
 * conditions are all equalities joined by AND, so their order does not change which items
 * match; putting the most selective indexed one first makes LokiJS search its index instead.
 * Only `findOne` is reordered: lists keep LokiJS's own order (they sort explicitly anyway).
 */

interface LokiCollection {
  binaryIndices: Record<string, unknown>;
  findOne(query?: Record<string, unknown>): unknown;
}

/** The indexed keys that identify one item, most selective first. */
const SELECTIVE_KEYS = ['name', 'blobName'];

function reorder(collection: LokiCollection, query: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!query || typeof query !== 'object') return query;
  const keys = Object.keys(query);
  if (keys.length < 2 || keys.some((k) => k.startsWith('$'))) return query;
  const first = SELECTIVE_KEYS.find((k) => k in query && k !== keys[0] && collection.binaryIndices[k] !== undefined && isPlainEquality(query[k]));
  if (first === undefined) return query;
  const ordered: Record<string, unknown> = { [first]: query[first] };
  for (const k of keys) if (k !== first) ordered[k] = query[k];
  return ordered;
}

/** A shorthand equality (`{ name: 'x' }`), not an operator object. */
function isPlainEquality(value: unknown): boolean {
  return value === null || typeof value !== 'object' || value instanceof Date;
}

export function patchLokiFindOne(loki: { Collection: { prototype: LokiCollection } }): void {
  const proto = loki.Collection.prototype;
  const original = proto.findOne;
  if ((original as { devhostReordered?: boolean }).devhostReordered) return;
  const findOne = function (this: LokiCollection, query?: Record<string, unknown>): unknown {
    return original.call(this, reorder(this, query));
  };
  (findOne as { devhostReordered?: boolean }).devhostReordered = true;
  proto.findOne = findOne;
}

// In Azurite's process (its entry script is Azurite's): patch the LokiJS Azurite itself loads,
// resolved from Azurite's package. Imported anywhere else, this module changes nothing.
if (/[\\/]azurite[\\/]dist[\\/]/.test(process.argv[1] ?? '')) {
  const require = createRequire(import.meta.url);
  const fromAzurite = createRequire(require.resolve('azurite/package.json'));
  patchLokiFindOne(fromAzurite('lokijs') as { Collection: { prototype: LokiCollection } });
}
