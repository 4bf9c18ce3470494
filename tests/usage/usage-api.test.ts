import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { createUsageApiHandler } from '../../shared/http/usage-api.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { UsageLedger } from '../../shared/usage/usage-ledger.js';
import { AUDIENCE, CONTOSO_TID, FABRIKAM_TID, answer, frontDoorFixture, invocation, request } from '../frontdoor/front-door-kit.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Tokens are checked against the fixture's clock, which reads the real time: events are placed relative to it.
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
const DAY0 = Math.floor(T0 / DAY) * DAY;

let issuer: DevTokenIssuer;
beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
});
afterAll(async () => {
  await issuer?.stop();
});

async function setup() {
  const fixture = frontDoorFixture(issuer);
  const usage = new UsageLedger(new MemoryBlobStore(), { now: fixture.clock.now });
  const model = (id: string, atMs: number, tenantId = 'contoso') =>
    usage.record({ eventId: id, tenantId, type: 'model.called', at: new Date(atMs).toISOString(), data: { deployment: 'gpt-4o-mini', inputTokens: 10, outputTokens: 5 } });
  await model('a', T0 + 1);
  await model('b', T0 + HOUR + 1);
  await model('c', T0 - 20 * HOUR);
  await model('f', T0 + 1, 'fabrikam');
  await usage.record({ eventId: 'r', tenantId: 'contoso', type: 'run.started', at: new Date(T0).toISOString(), data: {} });
  const handler = createUsageApiHandler({ ...fixture.deps, usage });
  const get = async (tenantId: string, token: string, query: Record<string, string> = {}) =>
    answer(await handler(request({ path: `/tenants/${tenantId}/usage`, params: { tenantId }, query, token }), invocation()));
  const token = (tid: string, roles: string[]) => issuer.issue({ entraTenantId: tid, audience: AUDIENCE, roles });
  return { get, token };
}

describe('GET /tenants/{tenantId}/usage', () => {
  it('answers hourly and daily buckets with totals', async () => {
    const { get, token } = await setup();
    const reader = await token(CONTOSO_TID, ['Usage.Read']);
    const hourly = await get('contoso', reader, { from: iso(T0 + HOUR / 2), to: iso(T0 + 3 * HOUR) });
    expect(hourly.status).toBe(200);
    expect(hourly.body).toMatchObject({
      tenantId: 'contoso',
      granularity: 'hour',
      from: iso(T0),
      to: iso(T0 + 3 * HOUR),
      buckets: [
        { start: iso(T0), end: iso(T0 + HOUR), usage: { 'tokens.input:gpt-4o-mini': 10, 'tokens.output:gpt-4o-mini': 5, 'runs.started': 1 }, totalTokens: 15 },
        { start: iso(T0 + HOUR), totalTokens: 15 },
      ],
      totals: { 'tokens.input:gpt-4o-mini': 20, 'tokens.output:gpt-4o-mini': 10, 'runs.started': 1 },
      totalTokens: 30,
    });
    // Defaults: the last 24 hours, ending now.
    expect((await get('contoso', reader)).body['totalTokens']).toBe(45);
    // Days in UTC: summed by the day each hour starts in.
    const daily = await get('contoso', reader, { from: iso(T0 - 2 * DAY + 1), to: iso(T0 + 3 * HOUR), granularity: 'day' });
    expect(daily.body['from']).toBe(iso(DAY0 - 2 * DAY));
    const byDay = new Map<number, number>();
    for (const at of [T0, T0 + HOUR, T0 - 20 * HOUR]) byDay.set(Math.floor(at / DAY) * DAY, (byDay.get(Math.floor(at / DAY) * DAY) ?? 0) + 15);
    expect((daily.body['buckets'] as { start: string; end: string; totalTokens: number }[]).map((b) => [b.start, b.end, b.totalTokens])).toEqual(
      [...byDay.entries()].sort(([a], [b]) => a - b).map(([start, tokens]) => [iso(start), iso(start + DAY), tokens]),
    );
    expect(daily.body['totals']).toEqual({ 'tokens.input:gpt-4o-mini': 30, 'tokens.output:gpt-4o-mini': 15, 'runs.started': 1 });
  });

  it('refuses bad input with problem+json', async () => {
    const { get, token } = await setup();
    const reader = await token(CONTOSO_TID, ['Usage.Read']);
    for (const query of [{ from: iso(T0 + DAY), to: iso(T0) }, { from: iso(T0 - 94 * DAY), to: iso(T0) }, { from: 'yesterday' }, { granularity: 'minute' }, { surprise: '1' }]) {
      const res = await get('contoso', reader, query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('needs Usage.Read and never reaches another tenant', async () => {
    const { get, token } = await setup();
    expect((await get('contoso', await token(CONTOSO_TID, ['Runs.Read', 'Runs.Write', 'Runs.Approve']))).status).toBe(403);
    const fabrikam = await token(FABRIKAM_TID, ['Usage.Read']);
    const cross = await get('contoso', fabrikam);
    expect(cross).toMatchObject({ status: 403, body: { code: 'tenant_mismatch' } });
    expect((await get('nosuchtenant', fabrikam)).status).toBe(403);
    const own = await get('fabrikam', fabrikam, { from: iso(T0 - DAY), to: iso(T0 + DAY) });
    expect(own.body['totalTokens']).toBe(15);
  });
});
