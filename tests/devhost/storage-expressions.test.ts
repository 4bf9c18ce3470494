import { describe, expect, it } from 'vitest';
import type { RegisteredFunction } from '../../devhost/host/core-types.js';
import { bindingDataFor, compileBlobPath, resolveTemplate, splitBlobPath } from '../../devhost/storage/binding-expressions.js';
import { resolveConnectionString } from '../../devhost/storage/storage-account.js';
import { decodeQueueMessage, encodeQueueMessage, queueMessages } from '../../devhost/storage/queue-extension.js';

/** The pure parts of the storage room: paths, binding expressions, connection settings, message encoding. */

const settings = (values: Record<string, string>) => (name: string) => values[name];
const fn = (triggerType: string): RegisteredFunction => ({
  name: 'f',
  metadata: { name: 'f', bindings: {} },
  callback: () => undefined,
  triggerBindingName: 'trigger',
  trigger: { type: triggerType, direction: 'in' },
});

describe('blob trigger paths', () => {
  it('binds each {name} and lists by the literal prefix', () => {
    const p = compileBlobPath('images/thumbs/{folder}/{name}.png');
    expect(p.container).toBe('images');
    expect(p.prefix).toBe('thumbs/');
    expect(p.match('thumbs/a/b/cat.png')).toEqual({ folder: 'a/b', name: 'cat' });
    expect(p.match('thumbs/cat.jpg')).toBeUndefined();
    expect(p.match('other/a/cat.png')).toBeUndefined();
  });

  it('watches a whole container for a path without a blob part, and refuses an expression as container', () => {
    expect(compileBlobPath('uploads').match('any/thing.txt')).toEqual({});
    expect(() => compileBlobPath('{c}/x')).toThrow(/must be a name/);
  });

  it('splits container/blob and refuses either part empty', () => {
    expect(splitBlobPath('notes/a/b.txt')).toEqual({ container: 'notes', blobName: 'a/b.txt' });
    expect(() => splitBlobPath('notes')).toThrow(/<container>\/<blob name>/);
  });
});

describe('binding expressions', () => {
  it('resolves settings, trigger metadata, JSON payload properties and built-ins, ignoring case', () => {
    const data = bindingDataFor(fn('queueTrigger'), { inputs: { trigger: { string: '{"orderId":"o-7","nested":{"k":"v"}}' } }, triggerMetadata: { Id: { string: 'm-1' } } });
    expect(resolveTemplate('%CONTAINER%/{ORDERID}-{id}-{nested.k}.json', data, settings({ CONTAINER: 'orders' }))).toBe('orders/o-7-m-1-v.json');
    expect(resolveTemplate('x/{rand-guid}', data, settings({}))).toMatch(/^x\/[0-9a-f-]{36}$/);
    expect(resolveTemplate('x/{DateTime}', data, settings({}), () => new Date('2024-05-01T10:20:30.456Z'))).toBe('x/2024-05-01T10-20-30Z');
  });

  it('reads an HTTP trigger route parameter, Query.x and Headers.x', () => {
    const data = bindingDataFor(fn('httpTrigger'), {
      inputs: { trigger: { http: { params: { id: '42' }, query: { v: '3' }, headers: { 'x-tenant': 't1' } } } },
      triggerMetadata: {},
    });
    expect(resolveTemplate('c/{id}-{Query.v}-{headers.x-tenant}', data, settings({}))).toBe('c/42-3-t1');
  });

  it('names a parameter that has no value, and a setting that is not set', () => {
    expect(() => resolveTemplate('c/{missing}', {}, settings({}))).toThrow("No value for named parameter 'missing'.");
    expect(() => resolveTemplate('%NOPE%/x', {}, settings({}))).toThrow(/'NOPE'/);
  });
});

describe('storage connection settings', () => {
  it('defaults to AzureWebJobsStorage and prefers AzureWebJobs<name> over <name>', () => {
    expect(resolveConnectionString(undefined, settings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }))).toBe('UseDevelopmentStorage=true');
    expect(resolveConnectionString('Mine', settings({ Mine: 'a', AzureWebJobsMine: 'b' }))).toBe('b');
    expect(resolveConnectionString('Mine', settings({ Mine: 'a' }))).toBe('a');
  });

  it("gives the host's message for a missing setting and refuses identity-based connections", () => {
    expect(() => resolveConnectionString('Gone', settings({}))).toThrow("Storage account connection string 'Gone' does not exist. Make sure that it is a defined App Setting.");
    expect(() => resolveConnectionString('Id', settings({ Id__serviceUri: 'https://x' }))).toThrow(/identity-based/);
  });
});

describe('queue message encoding', () => {
  it('round-trips base64 and passes text through with none', () => {
    expect(encodeQueueMessage('héllo', 'base64')).toBe(Buffer.from('héllo').toString('base64'));
    expect(decodeQueueMessage(encodeQueueMessage('héllo', 'base64'), 'base64')).toBe('héllo');
    expect(decodeQueueMessage('plain text', 'none')).toBe('plain text');
    expect(decodeQueueMessage('plain text', 'base64')).toBeUndefined();
  });

  it('writes one message per array element', () => {
    expect(queueMessages({ json: '[{"a":1},"b"]' }, 'f')).toEqual(['{"a":1}', 'b']);
    expect(queueMessages({ json: '{"a":1}' }, 'f')).toEqual(['{"a":1}']);
    expect(queueMessages({ string: 'hi' }, 'f')).toEqual(['hi']);
    expect(queueMessages(undefined, 'f')).toEqual([]);
  });
});

describe('Azurite connection strings', () => {
  it('refuses one for the development account that names no endpoint for the service (the SDK would pick a cloud host)', async () => {
    const { checkServiceEndpoint } = await import('../../devhost/storage/storage-account.js');
    const blobOnly = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;';
    expect(() => checkServiceEndpoint(blobOnly, 'blob')).not.toThrow();
    expect(() => checkServiceEndpoint(blobOnly, 'queue')).toThrow(/names no QueueEndpoint/);
    expect(() => checkServiceEndpoint('UseDevelopmentStorage=true', 'queue')).not.toThrow();
  });
});
