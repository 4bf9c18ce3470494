import { startAgentRun } from '../agent-runtime/start-run.js';
import type { Deps } from '../composition-root.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { apiBaseUrl, enforceRateLimit, frontDoor, jsonResponse } from '../http/front-door.js';
import { parseJson, readBodyWithLimit, requireJsonContentType } from '../http/request-body.js';
import type { DurableClientFactory } from '../http/runs-api.js';
import { resolveActiveTenant } from '../tenancy/tenant-directory.js';
import { mapPayloadToInput } from './payload-mapping.js';
import { verifyWebhookSignature } from './webhook-signature.js';

/**
 * `POST /webhooks/{tenantId}/{source}`: a customer system's signed delivery starts an agent run.
 * Order of checks: tenant and source (404 / 403), media type (415), size (413), signature and
 * freshness (401), the tenant's rate budget (429), then JSON (400), the source's input mapping
 * (400) and an idempotent start keyed by `x-delivery-id`, so a redelivery answers with the same
 * run id and starts nothing. Answers 202 `{id, statusUrl}` at once; never waits for the run.
 */
export type WebhookDeps = Pick<Deps, 'config' | 'catalog' | 'tenants' | 'secrets' | 'rateLimiter' | 'now'>;

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createWebhookHandler(deps: WebhookDeps, getClient: DurableClientFactory) {
  return frontDoor(async (request, door) => {
    const tenant = await resolveActiveTenant(deps.tenants, request.params['tenantId'] ?? '');
    const sourceName = request.params['source'] ?? '';
    const source = Object.hasOwn(tenant.webhookSources, sourceName) ? tenant.webhookSources[sourceName] : undefined;
    if (!source || !source.enabled) throw new NotFoundError(`Tenant "${tenant.id}" has no webhook source "${sourceName.slice(0, 64)}".`, 'webhook_source_not_found');

    requireJsonContentType(request);
    const rawBody = await readBodyWithLimit(request, deps.config.frontDoor.maxBodyBytes);
    const secret = await deps.secrets.getSecret(source.secretRef);
    // A source without a secret is a configuration fault, not the sender's: log it, answer 500.
    if (!secret) throw new Error(`Webhook secret "${source.secretRef}" for ${tenant.id}/${sourceName} is missing from the secrets provider`);
    verifyWebhookSignature({
      secret,
      signatureHeader: request.headers.get('x-signature'),
      timestampHeader: request.headers.get('x-timestamp'),
      rawBody,
      nowMs: deps.now(),
    });
    enforceRateLimit(deps.rateLimiter, tenant.id, tenant.rateLimitPerMinute ?? deps.config.frontDoor.defaultRateLimitPerMinute);

    const deliveryId = request.headers.get('x-delivery-id')?.trim() ?? '';
    if (!DELIVERY_ID.test(deliveryId)) {
      throw new ValidationError('x-delivery-id is required: a unique id per delivery, reused on redelivery.', [
        'x-delivery-id: 1-128 characters of A-Z a-z 0-9 . _ : -',
      ]);
    }
    const input = mapPayloadToInput(source.input, parseJson(rawBody));
    const started = await startAgentRun(getClient(door.invocation), deps.catalog, {
      tenantId: tenant.id,
      agentId: source.agent,
      input,
      initiator: { kind: 'webhook', id: `${sourceName}:${deliveryId}` },
      correlationId: door.correlationId,
      idempotencyKey: `webhook:${sourceName}:${deliveryId}`,
      ...(source.variables ? { variables: source.variables } : {}),
    });
    const statusUrl = `${apiBaseUrl(request.url, '/webhooks/')}/tenants/${tenant.id}/runs/${started.runId}`;
    door.invocation.log(`webhook ${tenant.id}/${sourceName} delivery ${deliveryId}: run ${started.runId} ${started.created ? 'started' : 'already exists'}`);
    return jsonResponse(202, { id: started.runId, statusUrl }, { location: statusUrl });
  });
}
