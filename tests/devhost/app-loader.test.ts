import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppLoadError } from '../../devhost/host/app-loader.js';
import { startDevhost } from '../../devhost/host/host.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');

describe('devhost start-up with an invalid app', () => {
  // The Functions host builds its route table outside the per-function error handling, so an
  // unparsable template fails the whole host there too (WebScriptHostHttpRoutesManager).
  it('stops on a bad route template, naming the function and the reason', async () => {
    const error = await startDevhost({ appDir: join(fixtures, 'bad-route-app'), port: 0, storage: 'memory', logLevel: 'error' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppLoadError);
    expect((error as AppLoadError).problems).toHaveLength(1);
    expect((error as Error).message).toContain('function "brokenRoute"');
    expect((error as Error).message).toContain('unknown route constraint "nosuchconstraint"');
  });

  it('stops when its only function uses a binding type the devhost cannot serve, naming the function', async () => {
    // With other functions that can run it would start and disable this one (partial-app.test.ts).
    const error = await startDevhost({ appDir: join(fixtures, 'bad-binding-app'), port: 0, storage: 'memory', logLevel: 'error' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppLoadError);
    expect((error as Error).message).toMatch(/function "onCosmosChange".*cosmosDBTrigger.*does not support/);
  });

  it('stops when package.json main matches no file', async () => {
    const error = await startDevhost({ appDir: join(fixtures, 'does-not-exist'), port: 0, storage: 'memory', logLevel: 'error' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppLoadError);
    expect((error as Error).message).toContain('no package.json');
  });
});

describe('host.json overrides from app settings', () => {
  it('applies AzureFunctionsJobHost__ paths as the Functions host does', async () => {
    const { readHostJson } = await import('../../devhost/host/app-settings.js');
    const hostJson = readHostJson(join(fixtures, 'basic-app'), {
      AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls: '2',
      AZUREFUNCTIONSJOBHOST__extensions__durableTask__maxConcurrentActivityFunctions: '4',
      AzureFunctionsJobHost__extensions__http__routePrefix: 'v1',
    });
    expect(hostJson.extensions?.serviceBus?.maxConcurrentCalls).toBe(2);
    expect(hostJson.extensions?.serviceBus?.maxDeliveryCount).toBe(3);
    expect(hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions).toBe(4);
    expect(hostJson.extensions?.http?.routePrefix).toBe('v1');
  });
});
