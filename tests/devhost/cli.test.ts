import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnDevhost } from '../helpers/spawn-devhost.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');

describe('devhost CLI', () => {
  it('hosts another app folder, lists its functions and serves them', async () => {
    const host = await spawnDevhost(['--app', join(fixtures, 'cli-app'), '--storage', 'memory']);
    try {
      // routePrefix "" in that app's host.json: no /api.
      const res = await fetch(`${host.url}/ping/marco`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ pong: 'marco' });
      expect(host.output()).toMatch(/ping: \[GET\] http:\/\/127\.0\.0\.1:\d+\/ping\/\{who\}/);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  });

  it('exits non-zero naming the function when the app is invalid', async () => {
    const error = await spawnDevhost(['--app', join(fixtures, 'bad-route-app'), '--storage', 'memory']).catch((e: unknown) => e);
    expect(String(error)).toContain('exited with 1');
    expect(String(error)).toContain('function "brokenRoute"');
  });

  it('rejects bad arguments with usage', async () => {
    const error = await spawnDevhost(['--app', join(fixtures, 'cli-app'), '--bogus']).catch((e: unknown) => e);
    expect(String(error)).toContain('exited with 2');
    expect(String(error)).toContain('Usage: devhost');
  });
});
