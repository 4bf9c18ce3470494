import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputOf, startDurableHarness, type DurableHarness } from './durable-test-kit.js';

let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness();
});
afterAll(async () => {
  await h?.stop();
});

const uid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

describe('entities', () => {
  it('signals from a client and reads the state back', async () => {
    const key = uid('c');
    expect(await h.client('signalEntity', 'Counter', key, 'add', 3)).toEqual({ ok: true, value: null });
    expect(await h.client('signalEntity', 'Counter', key, 'add', 4)).toEqual({ ok: true, value: null });
    await h.durable.waitForIdle();
    expect(await h.client('readEntityState', 'Counter', key)).toEqual({ ok: true, value: { entityExists: true, entityState: 7 } });
  });

  it('reports a missing entity as not existing', async () => {
    const state = await h.client('readEntityState', 'Counter', uid('none'));
    expect(state).toEqual({ ok: true, value: { entityExists: false } });
  });

  it('calls and signals entities from an orchestration, including a failing operation', async () => {
    const key = uid('orch');
    const record = await h.finished(await h.start('entityUser', { key }));
    expect(record.status).toBe('Completed');
    expect(outputOf(record)).toEqual({ afterAdd: 15, finalValue: 115, failure: 'Error' });
    expect((await h.client('readEntityState', 'Counter', key)).value).toEqual({ entityExists: true, entityState: 115 });
  });

  it('delivers entity-to-entity signals and deletes state', async () => {
    const from = uid('from');
    const to = uid('to');
    await h.client('signalEntity', 'Counter', from, 'forward', { to, amount: 9 });
    await h.durable.waitForIdle();
    expect((await h.client('readEntityState', 'Counter', to)).value).toEqual({ entityExists: true, entityState: 9 });
    await h.client('signalEntity', 'Counter', to, 'delete');
    await h.durable.waitForIdle();
    expect((await h.client('readEntityState', 'Counter', to)).value).toEqual({ entityExists: false });
  });

  it('serves the entity HTTP routes', async () => {
    const key = uid('http');
    const base = `${h.url}/runtime/webhooks/durabletask/entities`;
    const post = await fetch(h.keyed(`${base}/Counter/${key}?op=add`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '5' });
    expect(post.status).toBe(202);
    await h.durable.waitForIdle();
    const get = await fetch(h.keyed(`${base}/Counter/${key}`));
    expect(get.status).toBe(200);
    expect(await get.json()).toBe(5);
    const list = await fetch(h.keyed(`${base}/Counter?fetchState=true`));
    const items = (await list.json()) as { entityId: { name: string; key: string }; state: unknown }[];
    expect(items.find((i) => i.entityId.key === key)).toMatchObject({ entityId: { name: 'counter', key }, state: 5 });
    const unknown = await fetch(h.keyed(`${base}/NoSuchEntity/x?op=add`), { method: 'POST' });
    expect(unknown.status).toBe(400);
  });
});
