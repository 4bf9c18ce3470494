import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/spawn-devhost.js';
import { hostFixture, LIBRARY_VERSIONS } from './conformance-kit.js';

describe('conformance kit: each pinned @azure/functions version is the one the fixture app runs', () => {
  for (const library of LIBRARY_VERSIONS) {
    it(`@azure/functions ${library.label}`, async () => {
      const expected = (JSON.parse(readFileSync(join(repoRoot, 'node_modules', library.pkg, 'package.json'), 'utf8')) as { version: string }).version;
      if (library.label !== 'current') expect(expected).toBe(library.label);
      const host = await hostFixture('version-app', library);
      try {
        const res = await fetch(`${host.url}/api/libraryVersion`, { method: 'POST' });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ version: expected });
      } finally {
        expect(await host.close()).toBe(0);
      }
    });
  }
});
