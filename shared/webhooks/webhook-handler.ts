import { createHash } from 'node:crypto';
import { startAgentRun } from '../agent-runtime/start-run.js';
import type { Deps } from '../composition-root.js';
import { ForbiddenError, ValidationError } from '../errors.js';
import { apiBaseUrl, frontDoor, jsonResponse } from '../http/front-door.js';
import { ConflictError } from '../http/http-errors.js';
import { parseJson, readBodyWithLimit, requireJsonContentType } from '../http/request-body.js';
import type { DurableClientFactory } from '../http/runs-api.js';
import { admitRun } from '../runs/admission.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import { TENANT_ID_PATTERN } from '../tenancy/tenant.js';
import { mapPayloadToInput } from './payload-mapping.js';
import { readWebhookClaims, signatureInvalid, signatureMatches, WEBHOOK_TIMESTAMP_TOLERANCE_MS } from './webhook-signature.js';

/**
 * `POST /webhooks/{tenantId}/{source}`: a customer system's signed delivery starts an agent run.
 *
 * Order of checks, chosen so an unsigned caller learns nothing about which tenants and sources
 * exist: media type (415), size (413), signature headers and freshness (401), then the tenant
 * and source are looked up and the signature verified — a missing tenant, a missing or disabled
 * source and a wrong signature all get the same 401 `webhook_signature_invalid`. Only a verified
 * caller hears about its tenant: suspended (403), then admission (agent, rate and token budgets: 429), JSON
 * (400), the source's input mapping (400) and an idempotent start keyed by the delivery id, so a
 * redelivery answers with the same run id and starts nothing. Under the legacy scheme (delivery
 * id not signed) a signature already accepted for another delivery id is refused (409).
 */
export type WebhookDeps = Pick<Deps, 'config' | 'catalog' | 'tenants' | 'secrets' | 'rateLimiter' | 'now' | 'requestBlobs'> & Partial<Pick<Deps, 'budget'>>;

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Burns the same HMAC work for an unknown tenant or source as for a real one. */
const DECOY_SECRET = 'webhook-decoy-secret-with-no-meaning';

export function createWebhookHandler(deps: WebhookDeps, getClient: DurableClientFactory) {
  return frontDoor(async (request, door) => {
    requireJsonContentType(request);
    const rawBody = await readBodyWithLimit(request, deps.config.frontDoor.maxBodyBytes);
    const claims = readWebhookClaims(request.headers, deps.now());

    const tenantId = request.params['tenantId'] ?? '';
    const sourceName = request.params['source'] ?? '';
    const tenant = TENANT_ID_PATTERN.test(tenantId) ? await deps.tenants.get(tenantId) : undefined;
    const source = tenant && Object.hasOwn(tenant.webhookSources, sourceName) ? tenant.webhookSources[sourceName] : undefined;
    const usable = tenant !== undefined && source !== undefined && source.enabled && source.signatureScheme === claims.scheme;
    const secret = usable ? await deps.secrets.getSecret(source.secretRef) : undefined;
    if (usable && !secret) {
      // A source without a secret is a configuration fault, not the sender's: logged, answered 500.
      throw new Error(`Webhook secret "${source.secretRef}" for ${tenantId}/${sourceName} is missing from the secrets provider`);
    }
    const verified = signatureMatches(claims, secret ?? DECOY_SECRET, rawBody);
    if (!usable || !verified || !tenant || !source) throw signatureInvalid();

    if (tenant.status === 'suspended') throw new ForbiddenError(`Tenant "${tenant.id}" is suspended.`, 'tenant_suspended');
    if (!DELIVERY_ID.test(claims.deliveryId)) {
      const header = claims.scheme === 'standard-webhooks' ? 'webhook-id' : 'x-delivery-id';
      throw new ValidationError(`${header} is required: a unique id per delivery, reused on redelivery.`, [`${header}: 1-128 characters of A-Z a-z 0-9 . _ : -`]);
    }
    // Part of authentication: a legacy signature replayed under another delivery id is refused.
    if (claims.scheme === 'legacy-hmac') await refuseReplayedSignature(deps, tenant.id, sourceName, claims.signatures[0] ?? Buffer.alloc(0), claims.deliveryId);
    const admission = await admitRun(deps, { door: 'webhook', scope: sourceName, tenant, agentId: source.agent, idempotencyKey: claims.deliveryId });

    const input = mapPayloadToInput(source.input, parseJson(rawBody));
    const started = await startAgentRun(getClient(door.invocation), deps.catalog, {
      admission,
      idempotent: true,
      input,
      initiator: { kind: 'webhook', id: `${sourceName}:${claims.deliveryId}` },
      correlationId: door.correlationId,
      ...(source.variables ? { variables: source.variables } : {}),
    });
    const statusUrl = `${apiBaseUrl(request.url, '/webhooks/')}/tenants/${tenant.id}/runs/${started.runId}`;
    door.invocation.log(`webhook ${tenant.id}/${sourceName} delivery ${claims.deliveryId}: run ${started.runId} ${started.created ? 'started' : 'already exists'}`);
    return jsonResponse(202, { id: started.runId, statusUrl }, { location: statusUrl });
  });
}

/**
 * Legacy scheme only: the first delivery id a signature was accepted with is recorded (first
 * write wins, in the tenant's blob space); the same signature with another delivery id is a
 * replay of a captured request and is refused. The same delivery id again is a redelivery and
 * goes on to the idempotent start. Markers matter only within the timestamp window.
 */
async function refuseReplayedSignature(deps: Pick<WebhookDeps, 'requestBlobs' | 'now'>, tenantId: string, source: string, signature: Buffer, deliveryId: string): Promise<void> {
  const space = new TenantBlobSpace(deps.requestBlobs, tenantId);
  const path = `webhook-replay/${source}/${createHash('sha256').update(signature).digest('hex')}.json`;
  const marker = JSON.stringify({ deliveryId, seenAt: new Date(deps.now()).toISOString(), expiresAt: new Date(deps.now() + 2 * WEBHOOK_TIMESTAMP_TOLERANCE_MS).toISOString() });
  const written = await space.put(path, marker, { contentType: 'application/json', ifNoneMatch: true });
  if (written.created) return;
  const stored = await space.get(path);
  const first = stored ? (JSON.parse(stored.toString('utf8')) as { deliveryId?: string }).deliveryId : undefined;
  if (first !== undefined && first !== deliveryId) {
    throw new ConflictError('webhook_replayed', 'This signed request was already delivered under another x-delivery-id; sign each delivery anew.');
  }
}
