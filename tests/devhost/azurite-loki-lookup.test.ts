import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { patchLokiFindOne } from '../../devhost/local-services/azurite-loki-lookup.js';

/**
 * The lookup preload reorders the conditions of Azurite's `findOne` queries (all equalities,
 * joined by AND) so LokiJS searches the `name` index first: it must find exactly what LokiJS
 * found before, whatever the order of the conditions.
 */

interface Doc {
  accountName: string;
  containerName: string;
  name: string;
  snapshot: string;
}
interface Collection {
  insert(doc: Doc): void;
  findOne(query: Record<string, unknown>): (Doc & { $loki: number }) | null;
}
type LokiCtor = new (file: string) => { addCollection(name: string, options: { indices: string[] }): Collection };

// The LokiJS Azurite loads, resolved from Azurite's package as the preload does.
const require = createRequire(createRequire(import.meta.url).resolve('azurite/package.json'));

describe('Azurite lookup preload (LokiJS findOne through the name index)', () => {
  it('finds the same item as LokiJS did, for any order of conditions', () => {
    const Loki = require('lokijs') as LokiCtor;
    const db = new Loki('lookup-test');
    const blobs = db.addCollection('$BLOBS_COLLECTION$', { indices: ['accountName', 'containerName', 'name', 'snapshot'] });
    for (let i = 0; i < 300; i++) {
      blobs.insert({ accountName: 'devstoreaccount1', containerName: `c${i % 3}`, name: `b${i % 50}`, snapshot: i % 7 === 0 ? `s${i}` : '' });
    }
    const queries: Record<string, unknown>[] = [
      { accountName: 'devstoreaccount1', containerName: 'c1', name: 'b10', snapshot: '' },
      { accountName: 'devstoreaccount1', containerName: 'c2', name: 'b11', snapshot: '' },
      { snapshot: '', name: 'b49', containerName: 'c0', accountName: 'devstoreaccount1' },
      { accountName: 'devstoreaccount1', containerName: 'c1', name: 'missing', snapshot: '' },
      { accountName: 'devstoreaccount1', containerName: 'c0', name: 'b0', snapshot: 's0' },
      { accountName: 'devstoreaccount1', name: 'b3' },
    ];
    const before = queries.map((q) => blobs.findOne(q)?.$loki ?? null);
    patchLokiFindOne(Loki as unknown as Parameters<typeof patchLokiFindOne>[0]);
    const after = queries.map((q) => blobs.findOne(q)?.$loki ?? null);
    expect(after).toEqual(before);
    expect(before.filter((id) => id !== null)).toHaveLength(5);
  });
});
