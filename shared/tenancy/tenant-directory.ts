import { readFileSync } from 'node:fs';
import { duplicateIdProblems, parseDocument } from '../config-document.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { PlansDocumentSchema, type Plans } from './plan.js';
import { TENANT_ID_PATTERN, TenantCatalogDocumentSchema, TenantCatalogError, TenantSchema, applyPlan, replyQueuePatternsOverlap, type Tenant } from './tenant.js';

/** Where the front doors look tenants up. Implementations validate what they return. */
export interface TenantDirectory {
  /** The tenant with this id (any status), or undefined when there is none. */
  get(tenantId: string): Promise<Tenant | undefined>;
  /**
   * The tenant a Microsoft Teams tenant (`channelData.tenant.id`, a GUID) is mapped to. Optional:
   * a directory without it cannot serve the bot door, which then refuses every tenant (403).
   */
  findByTeamsTenantId?(teamsTenantId: string): Promise<Tenant | undefined>;
}

/**
 * The tenant a request names, if it may be served: unknown → 404 `tenant_not_found`, suspended
 * → 403 `tenant_suspended`. Callers authenticate before calling this where they can, so
 * anonymous callers learn nothing about which tenants exist.
 */
export async function resolveActiveTenant(directory: TenantDirectory, tenantId: string): Promise<Tenant> {
  const tenant = TENANT_ID_PATTERN.test(tenantId) ? await directory.get(tenantId) : undefined;
  if (!tenant) throw new NotFoundError(`Tenant "${tenantId.slice(0, 64)}" does not exist.`, 'tenant_not_found');
  if (tenant.status === 'suspended') throw new ForbiddenError(`Tenant "${tenant.id}" is suspended.`, 'tenant_suspended');
  return tenant;
}

/** A fixed set of tenants (the local catalog file, tests). */
export class StaticTenantDirectory implements TenantDirectory {
  readonly #tenants: ReadonlyMap<string, Tenant>;

  constructor(tenants: Iterable<Tenant>) {
    this.#tenants = new Map([...tenants].map((t) => [t.id, t]));
  }

  async get(tenantId: string): Promise<Tenant | undefined> {
    return this.#tenants.get(tenantId);
  }

  async findByTeamsTenantId(teamsTenantId: string): Promise<Tenant | undefined> {
    const wanted = teamsTenantId.toLowerCase();
    return [...this.#tenants.values()].find((t) => t.teamsTenantId === wanted);
  }

  /** Synchronous lookup, for tools that read the local catalog. */
  find(tenantId: string): Tenant | undefined {
    return this.#tenants.get(tenantId);
  }

  ids(): string[] {
    return [...this.#tenants.keys()].sort();
  }
}

/** Parses a catalog document (YAML or JSON text). Throws {@link TenantCatalogError} listing every problem. */
export function parseTenantCatalog(text: string, where: string): Tenant[] {
  const fail = (problems: string[]) => new TenantCatalogError(problems);
  const { tenants, plans } = parseDocument(text, where, TenantCatalogDocumentSchema, fail);
  const problems = duplicateIdProblems(
    tenants.map((t) => t.id),
    where,
    'tenant',
  );
  const resolved = tenants.map((t, i) => {
    const applied = applyPlan(t, plans, ['tenants', i]);
    problems.push(...applied.problems.map((p) => `${where}: ${p}`));
    return applied.tenant;
  });
  if (problems.length > 0) throw fail(problems);
  return resolved.filter((t): t is Tenant => t !== undefined);
}

/**
 * Loads the local development catalog (e.g. `tenants/tenants.local.yaml`) once, at startup,
 * so a bad file stops the app with every problem listed.
 */
export function loadTenantCatalogFile(path: string): StaticTenantDirectory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TenantCatalogError([`${path}: cannot be read: ${(error as Error).message}`]);
  }
  return new StaticTenantDirectory(parseTenantCatalog(text, path));
}

export interface BlobTenantDirectoryOptions {
  /** Folder of tenant records, e.g. `control-plane/tenants/` → `control-plane/tenants/contoso.yaml`. */
  prefix: string;
  /** How long a record (or its absence) is reused before Blob is read again. */
  cacheTtlMs: number;
  /** The named plans (`plans: {...}`); default: `plans.yaml` beside the prefix (`control-plane/plans.yaml`). Missing: no named plans. */
  plansPath?: string;
  now: () => number;
}

/**
 * The control plane's tenant records in Blob (Azure): one YAML/JSON blob per tenant, read on
 * demand and cached for `cacheTtlMs` so the front door does not hit storage per request. A
 * change (e.g. suspending a tenant) therefore takes effect within one TTL on every instance.
 * Records live outside `tenants/{id}/` on purpose: that space is the tenant's own data, which
 * agents' tools may write, and must never be able to change the tenant's configuration.
 */
export class BlobTenantDirectory implements TenantDirectory {
  readonly #blobs: BlobStore;
  readonly #options: BlobTenantDirectoryOptions;
  readonly #cache = new Map<string, { value: Promise<Tenant | undefined>; expiresAtMs: number }>();
  readonly #plansPath: string;
  #plans: { value: Promise<Plans>; expiresAtMs: number } | undefined;

  constructor(blobs: BlobStore, options: BlobTenantDirectoryOptions) {
    this.#blobs = blobs;
    this.#options = { ...options, prefix: options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/` };
    this.#plansPath = options.plansPath ?? `${this.#options.prefix.replace(/[^/]+\/$/, '')}plans.yaml`;
  }

  /** The named plans, cached like the records (a plan change takes effect within one TTL). */
  #loadPlans(): Promise<Plans> {
    const now = this.#options.now();
    if (this.#plans && this.#plans.expiresAtMs > now) return this.#plans.value;
    const value = this.#blobs
      .get(this.#plansPath)
      .then((content) => (content ? parseDocument(content.toString('utf8'), this.#plansPath, PlansDocumentSchema, (problems) => new TenantCatalogError(problems)).plans : {}));
    const entry = { value, expiresAtMs: now + this.#options.cacheTtlMs };
    this.#plans = entry;
    value.catch(() => {
      if (this.#plans === entry) this.#plans = undefined;
    });
    return value;
  }

  get(tenantId: string): Promise<Tenant | undefined> {
    if (!TENANT_ID_PATTERN.test(tenantId)) return Promise.resolve(undefined);
    const now = this.#options.now();
    const cached = this.#cache.get(tenantId);
    if (cached && cached.expiresAtMs > now) return cached.value;
    // Concurrent requests share one read; a failed read is not cached, so the next request retries.
    const value = this.#load(tenantId);
    this.#cache.set(tenantId, { value, expiresAtMs: now + this.#options.cacheTtlMs });
    value.catch(() => this.#cache.delete(tenantId));
    return value;
  }

  /**
   * Scans the tenant records (each read through the cache). Fine for the tens of tenants a
   * deployment has; a larger fleet would keep an index blob keyed by Teams tenant id.
   */
  async findByTeamsTenantId(teamsTenantId: string): Promise<Tenant | undefined> {
    const wanted = teamsTenantId.toLowerCase();
    const records = await this.#blobs.list(this.#options.prefix, 1_000);
    for (const record of records) {
      const id = record.path.slice(this.#options.prefix.length).replace(/\.yaml$/, '');
      const tenant = await this.get(id);
      if (tenant?.teamsTenantId === wanted) return tenant;
    }
    return undefined;
  }

  async #load(tenantId: string): Promise<Tenant | undefined> {
    const path = `${this.#options.prefix}${tenantId}.yaml`;
    const content = await this.#blobs.get(path);
    if (!content) return undefined;
    const tenant = parseDocument(content.toString('utf8'), path, TenantSchema, (problems) => new TenantCatalogError(problems));
    if (tenant.id !== tenantId) throw new TenantCatalogError([`${path}: id "${tenant.id}" does not match the blob name`]);
    const applied = applyPlan(tenant, await this.#loadPlans(), []);
    if (!applied.tenant) throw new TenantCatalogError(applied.problems.map((p) => `${path}: ${p}`));
    if (applied.tenant.replyQueues.length > 0) await this.#refuseReplyQueueOverlap(applied.tenant);
    return applied.tenant;
  }

  /**
   * The file catalog refuses reply queues that overlap across tenants as a whole document; records
   * in Blob are read one by one, so a record with reply queues is checked against every other
   * record here (read raw, not through `get`, so two records never wait on each other). A tenant
   * whose reply queues could match a queue another tenant names is refused (a catalog error), so
   * one tenant's results never land in a queue another tenant reads.
   */
  async #refuseReplyQueueOverlap(tenant: Tenant): Promise<void> {
    const problems: string[] = [];
    for (const record of await this.#blobs.list(this.#options.prefix, 1_000)) {
      const id = record.path.slice(this.#options.prefix.length).replace(/\.yaml$/, '');
      if (id === tenant.id || !record.path.endsWith('.yaml')) continue;
      const content = await this.#blobs.get(record.path);
      if (!content) continue;
      let other: Tenant;
      try {
        other = parseDocument(content.toString('utf8'), record.path, TenantSchema, (found) => new TenantCatalogError(found));
      } catch {
        continue; // That record is refused on its own when it is read.
      }
      for (const p of tenant.replyQueues) {
        for (const q of other.replyQueues) {
          if (replyQueuePatternsOverlap(p, q)) problems.push(`${this.#options.prefix}${tenant.id}.yaml: reply queue "${p}" overlaps "${q}" of tenant ${other.id}`);
        }
      }
    }
    if (problems.length > 0) throw new TenantCatalogError(problems);
  }
}

/**
 * Single-tenant mode (a managed application in one customer's subscription): exactly one
 * configured tenant exists; any other id is unknown without a lookup.
 */
export class SingleTenantDirectory implements TenantDirectory {
  constructor(
    readonly inner: TenantDirectory,
    readonly tenantId: string,
  ) {}

  async get(tenantId: string): Promise<Tenant | undefined> {
    return tenantId === this.tenantId ? this.inner.get(tenantId) : undefined;
  }

  async findByTeamsTenantId(teamsTenantId: string): Promise<Tenant | undefined> {
    const tenant = await this.inner.get(this.tenantId);
    return tenant?.teamsTenantId === teamsTenantId.toLowerCase() ? tenant : undefined;
  }
}
