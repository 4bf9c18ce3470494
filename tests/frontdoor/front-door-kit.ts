import { join } from 'node:path';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { createEntraTokenVerifier, remoteSigningKeys } from '../../shared/auth/entra-token-verifier.js';
import { MemorySecretProvider } from '../../shared/auth/secret-provider.js';
import { parseConfig, type AppConfig } from '../../shared/config.js';
import { TokenBucketRateLimiter } from '../../shared/http/rate-limiter.js';
import type { RunsApiDeps } from '../../shared/http/runs-api.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { StaticTenantDirectory } from '../../shared/tenancy/tenant-directory.js';
import { TenantSchema, type Tenant } from '../../shared/tenancy/tenant.js';
import type { WebhookDeps } from '../../shared/webhooks/webhook-handler.js';
import type { DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';

/**
 * Component-test kit for the front doors: handlers run in-process on `new HttpRequest(...)`
 * against a fake Durable client, with real tokens signed by a development issuer on loopback
 * and a controllable clock.
 */

export const AUDIENCE = 'api://frontdoor-tests';
export const CONTOSO_TID = '11111111-1111-4111-8111-111111111111';
export const FABRIKAM_TID = '22222222-2222-4222-8222-222222222222';
export const NORTHWIND_TID = '33333333-3333-4333-8333-333333333333';
export const CONTOSO_SECRET = 'contoso-test-secret-0123456789abcdef';
export const BASE = 'http://127.0.0.1:7071/api';

export const testTenants: Tenant[] = [
  {
    id: 'contoso',
    status: 'active',
    entraTenantIds: [CONTOSO_TID],
    allowedAgents: ['support-triage', 'doc-summarizer', 'ghost-agent'],
    egressAllowList: [],
    rateLimitPerMinute: 1000,
    webhookSources: {
      tickets: {
        secretRef: 'contoso-tickets',
        agent: 'support-triage',
        enabled: true,
        input: { template: 'Ticket {{/ticket/id}}: {{/ticket/subject}}\n{{/ticket/body?}}' },
        variables: { productName: 'Contoso Cloud' },
      },
      disabled: { secretRef: 'contoso-tickets', agent: 'support-triage', enabled: false, input: { pointer: '' } },
    },
  },
  {
    id: 'fabrikam',
    status: 'active',
    entraTenantIds: [FABRIKAM_TID],
    allowedAgents: ['doc-summarizer'],
    egressAllowList: [],
    rateLimitPerMinute: 2,
    webhookSources: {
      reviews: {
        secretRef: 'fabrikam-reviews',
        signatureScheme: 'legacy-hmac',
        agent: 'doc-summarizer',
        enabled: true,
        input: { fields: { task: '/topic', audience: '/audience?' } },
      },
    },
  },
  {
    id: 'northwind',
    status: 'suspended',
    entraTenantIds: [NORTHWIND_TID],
    allowedAgents: ['support-triage'],
    egressAllowList: [],
    webhookSources: { tickets: { secretRef: 'northwind-tickets', agent: 'support-triage', enabled: true, input: { pointer: '' } } },
  },
].map((t) => TenantSchema.parse(t));

/** A settable clock shared by token checks, signatures and rate limits. */
export class TestClock {
  constructor(public ms = Date.now()) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

interface FakeInstance {
  instanceId: string;
  name: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
}

/**
 * The few DurableClient methods the doors call, over an in-memory instance table. Unknown
 * instances fail the way durable-functions v3 does (a plain Error mentioning HTTP 404).
 */
export class FakeDurableClient {
  readonly instances = new Map<string, FakeInstance>();
  readonly starts: { name: string; instanceId: string; input: unknown }[] = [];
  readonly events: { instanceId: string; eventName: string; eventData: unknown }[] = [];
  readonly statusReads: string[] = [];
  failNext: Error | undefined;
  #clock: TestClock;

  constructor(clock: TestClock) {
    this.#clock = clock;
  }

  async startNew(name: string, options: { instanceId?: string; input?: unknown } = {}): Promise<string> {
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    const instanceId = options.instanceId ?? `auto-${this.starts.length}`;
    if (this.instances.has(instanceId)) throw new Error(`An orchestration with instance id ${instanceId} already exists`);
    this.starts.push({ name, instanceId, input: options.input });
    this.put({ instanceId, name, input: options.input });
    return instanceId;
  }

  async getStatus(instanceId: string): Promise<FakeInstance> {
    this.statusReads.push(instanceId);
    const instance = this.instances.get(instanceId);
    if (!instance) {
      throw new Error(
        `DurableClient error: Durable Functions extension replied with HTTP 404 response. This usually means we could not find any data associated with the instanceId provided: ${instanceId}.`,
      );
    }
    return structuredClone(instance);
  }

  /** Raw JSON as the SDK returns it for list queries (dates as strings). */
  /** The runs list must read the tenant's run index, never scan the whole task hub. */
  async getStatusBy(): Promise<never> {
    throw new Error('getStatusBy called: the runs list must not scan every instance');
  }

  async raiseEvent(instanceId: string, eventName: string, eventData: unknown): Promise<void> {
    this.events.push({ instanceId, eventName, eventData });
  }

  /** Adds or updates an instance (tests set statuses directly). */
  put(instance: Partial<FakeInstance> & { instanceId: string }): FakeInstance {
    const now = new Date(this.#clock.now()).toISOString();
    const existing = this.instances.get(instance.instanceId);
    const next: FakeInstance = {
      name: 'agentRun',
      runtimeStatus: 'Pending',
      input: null,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      ...existing,
      ...instance,
    };
    this.instances.set(next.instanceId, next);
    return next;
  }

  asClient(): DurableClient {
    return this as unknown as DurableClient;
  }
}

const agentsDir = join(import.meta.dirname, '..', '..', 'agents');

export function testConfig(issuer: DevTokenIssuer, env: Record<string, string> = {}): AppConfig {
  return parseConfig({ AUTH_AUTHORITY: issuer.url, AUTH_AUDIENCES: AUDIENCE, AGENTS_DIR: agentsDir, ...env });
}

export interface FrontDoorFixture {
  clock: TestClock;
  client: FakeDurableClient;
  deps: RunsApiDeps & WebhookDeps;
  secrets: MemorySecretProvider;
  logs: string[];
}

/** Fresh deps per test: own clock, fake client, rate buckets; the issuer's JWKS is fetched for real. */
export function frontDoorFixture(issuer: DevTokenIssuer, env: Record<string, string> = {}): FrontDoorFixture {
  const clock = new TestClock();
  const config = testConfig(issuer, env);
  const secrets = new MemorySecretProvider({ 'contoso-tickets': CONTOSO_SECRET, 'fabrikam-reviews': 'fabrikam-secret', 'northwind-tickets': 'northwind-secret' });
  const deps: RunsApiDeps & WebhookDeps = {
    config,
    now: clock.now,
    catalog: AgentCatalog.fromDirectory(agentsDir),
    tenants: new StaticTenantDirectory(testTenants),
    tokens: createEntraTokenVerifier({
      authority: config.auth.authority,
      audiences: config.auth.audiences,
      clockSkewMs: config.auth.clockSkewMs,
      keys: remoteSigningKeys(config.auth.jwksUrl, { cacheMaxAgeMs: config.auth.jwksCacheMaxAgeMs, cooldownMs: config.auth.jwksCooldownMs }),
      now: clock.now,
    }),
    secrets,
    rateLimiter: new TokenBucketRateLimiter(clock.now),
    requestBlobs: new MemoryBlobStore(),
  };
  return { clock, client: new FakeDurableClient(clock), deps, secrets, logs: [] };
}

export function invocation(logs: string[] = []): InvocationContext {
  return new InvocationContext({
    invocationId: 'test-invocation',
    functionName: 'test',
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ')}`),
  });
}

export interface RequestInit {
  method?: string;
  path: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  body?: string | Uint8Array;
  token?: string;
  json?: unknown;
}

export function request(init: RequestInit): HttpRequest {
  const headers: Record<string, string> = { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers };
  let body: { string: string } | { bytes: Uint8Array } | undefined;
  if (init.json !== undefined) {
    body = { string: JSON.stringify(init.json) };
    headers['content-type'] ??= 'application/json';
  } else if (typeof init.body === 'string') {
    body = { string: init.body };
  } else if (init.body) {
    body = { bytes: init.body };
  }
  const url = new URL(`${BASE}${init.path}`);
  for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
  return new HttpRequest({
    method: init.method ?? 'GET',
    url: url.toString(),
    headers,
    params: init.params ?? {},
    query: init.query ?? {},
    ...(body ? { body } : {}),
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Normalises a handler's HttpResponseInit into status, Headers and parsed JSON body. */
export function answer(response: HttpResponseInit): Answer {
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  let body: unknown = response.jsonBody;
  if (body === undefined && typeof response.body === 'string') body = JSON.parse(response.body) as unknown;
  return { status: response.status ?? 200, headers, body: (body ?? {}) as Record<string, unknown> };
}
