import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import {
  BlobTenantDirectory,
  SingleTenantDirectory,
  StaticTenantDirectory,
  loadTenantCatalogFile,
  parseTenantCatalog,
  resolveActiveTenant,
} from '../../shared/tenancy/tenant-directory.js';
import { replyQueueAllowed, type TenantCatalogError } from '../../shared/tenancy/tenant.js';
import { TestClock, testTenants } from './front-door-kit.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const shippedCatalog = join(repoRoot, 'tenants', 'tenants.local.yaml');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect((error as TenantCatalogError).name).toBe('TenantCatalogError');
    return [...(error as TenantCatalogError).problems];
  }
  throw new Error('expected a TenantCatalogError');
}

describe('tenant catalog', () => {
  it('ships contoso and fabrikam for local development, each in its own Entra directory', async () => {
    const directory = loadTenantCatalogFile(shippedCatalog);
    expect(directory.ids()).toEqual(['contoso', 'fabrikam']);
    const contoso = await directory.get('contoso');
    const fabrikam = await directory.get('fabrikam');
    expect(contoso?.status).toBe('active');
    expect(contoso?.webhookSources['tickets']?.agent).toBe('support-triage');
    expect(contoso?.entraTenantIds).not.toEqual(fabrikam?.entraTenantIds);
  });

  it('lists every problem of an invalid catalog at once', () => {
    const problems = problemsOf(() =>
      parseTenantCatalog(
        `
tenants:
  - id: Bad--Id
    status: paused
    entraTenantIds: [not-a-guid]
    allowedAgents: [support-triage]
    webhookSources:
      tickets: { secretRef: "has spaces", agent: doc-summarizer, input: { pointer: "no-slash" } }
    rateLimitPerMinute: 0
    surprise: true
`,
        'tenants.yaml',
      ),
    );
    const text = problems.join('\n');
    for (const key of [
      'tenants.0.id',
      'tenants.0.status',
      'tenants.0.entraTenantIds.0',
      'tenants.0.webhookSources.tickets.secretRef',
      'tenants.0.webhookSources.tickets.input',
      'tenants.0.rateLimitPerMinute',
      'surprise',
    ]) {
      expect(text).toContain(key);
    }
  });

  it('refuses a webhook source whose agent the tenant may not run, and duplicate ids', () => {
    const tenant = (id: string, agents: string) => `  - { id: ${id}, status: active, allowedAgents: [${agents}], webhookSources: { s: { secretRef: x, agent: support-triage } } }`;
    const problems = problemsOf(() => parseTenantCatalog(`tenants:\n${tenant('acme', 'doc-summarizer')}\n`, 'f'));
    expect(problems.join('\n')).toContain('webhookSources.s.agent: "support-triage" is not in allowedAgents');
    expect(problemsOf(() => parseTenantCatalog(`tenants:\n${tenant('acme', 'support-triage')}\n${tenant('acme', 'support-triage')}\n`, 'f'))).toEqual([
      'f: tenant "acme" is defined twice',
    ]);
  });

  it("allows only a tenant's own reply queues (exact names or a prefix*, any case) and refuses bad patterns", async () => {
    const contoso = await loadTenantCatalogFile(shippedCatalog).get('contoso');
    if (!contoso) throw new Error('contoso missing');
    expect(replyQueueAllowed(contoso, 'contoso-replies')).toBe(true);
    expect(replyQueueAllowed(contoso, 'Contoso-Triage')).toBe(true);
    expect(replyQueueAllowed(contoso, 'fabrikam-replies')).toBe(false);
    expect(replyQueueAllowed(contoso, 'contoso')).toBe(false);
    expect(replyQueueAllowed({ replyQueues: ['answers'] }, 'answers')).toBe(true);
    expect(replyQueueAllowed({ replyQueues: ['answers'] }, 'answers-2')).toBe(false);
    expect(replyQueueAllowed({ replyQueues: [] }, 'anything')).toBe(false);
    const problems = problemsOf(() => parseTenantCatalog('tenants:\n  - id: t1\n    status: active\n    replyQueues: ["*", "a*b"]\n', 'inline'));
    expect(problems.join('\n')).toMatch(/replyQueues\.0/);
    expect(problems.join('\n')).toMatch(/replyQueues\.1/);
  });

  it('resolves active tenants and refuses unknown (404) and suspended (403) ones', async () => {
    const directory = new StaticTenantDirectory(testTenants);
    expect((await resolveActiveTenant(directory, 'contoso')).id).toBe('contoso');
    await expect(resolveActiveTenant(directory, 'globex')).rejects.toMatchObject({ status: 404, code: 'tenant_not_found' });
    await expect(resolveActiveTenant(directory, '../contoso')).rejects.toMatchObject({ status: 404 });
    await expect(resolveActiveTenant(directory, 'northwind')).rejects.toMatchObject({ status: 403, code: 'tenant_suspended' });
  });

  it('single mode serves only the configured tenant, without looking others up', async () => {
    const lookups: string[] = [];
    const inner = new StaticTenantDirectory(testTenants);
    const directory = new SingleTenantDirectory({ get: (id) => (lookups.push(id), inner.get(id)) }, 'contoso');
    expect((await directory.get('contoso'))?.id).toBe('contoso');
    expect(await directory.get('fabrikam')).toBeUndefined();
    expect(lookups).toEqual(['contoso']);
  });
});

describe('tenant records in Blob', () => {
  const record = (id: string, status = 'active') => `id: ${id}\nstatus: ${status}\nentraTenantIds: ["11111111-1111-4111-8111-111111111111"]\nallowedAgents: [support-triage]\n`;

  it('reads one record per tenant, caches it for the TTL, then sees changes', async () => {
    const blobs = new MemoryBlobStore();
    const clock = new TestClock(0);
    await blobs.put('control-plane/tenants/contoso.yaml', record('contoso'));
    const directory = new BlobTenantDirectory(blobs, { prefix: 'control-plane/tenants', cacheTtlMs: 60_000, now: clock.now });
    expect((await directory.get('contoso'))?.status).toBe('active');
    await blobs.put('control-plane/tenants/contoso.yaml', record('contoso', 'suspended'));
    expect((await directory.get('contoso'))?.status).toBe('active');
    clock.advance(60_001);
    expect((await directory.get('contoso'))?.status).toBe('suspended');
    expect(await directory.get('globex')).toBeUndefined();
    expect(await directory.get('../../secrets')).toBeUndefined();
  });

  it('reports an invalid or misnamed record as a catalog error (a 500, never the caller’s fault)', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.put('cp/acme.yaml', record('contoso'));
    await blobs.put('cp/broken.yaml', 'id: broken\nstatus: maybe\n');
    const directory = new BlobTenantDirectory(blobs, { prefix: 'cp/', cacheTtlMs: 1000, now: () => 0 });
    await expect(directory.get('acme')).rejects.toMatchObject({ name: 'TenantCatalogError', status: 500 });
    await expect(directory.get('broken')).rejects.toMatchObject({ problems: [expect.stringContaining('status')] });
  });

  it('refuses a record whose reply queues overlap another tenant’s, as the file catalog does', async () => {
    const blobs = new MemoryBlobStore();
    const withQueues = (id: string, queues: string[]) => `${record(id)}replyQueues: [${queues.map((q) => JSON.stringify(q)).join(', ')}]\n`;
    await blobs.put('cp/contoso.yaml', withQueues('contoso', ['contoso-*']));
    await blobs.put('cp/fabrikam.yaml', withQueues('fabrikam', ['fabrikam-replies']));
    await blobs.put('cp/mallory.yaml', withQueues('mallory', ['contoso-replies', 'mallory-*']));
    const directory = new BlobTenantDirectory(blobs, { prefix: 'cp/', cacheTtlMs: 1000, now: () => 0 });
    // Reaching contoso's queue through its own record is refused too: either side of an overlap is suspect.
    await expect(directory.get('mallory')).rejects.toMatchObject({
      name: 'TenantCatalogError',
      problems: [expect.stringContaining('reply queue "contoso-replies" overlaps "contoso-*" of tenant contoso')],
    });
    await expect(directory.get('contoso')).rejects.toMatchObject({ name: 'TenantCatalogError' });
    expect((await directory.get('fabrikam'))?.replyQueues).toEqual(['fabrikam-replies']);
  });
});
