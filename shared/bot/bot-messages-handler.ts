import { Orchestrators } from '../agent-runtime/activity-catalog.js';
import { currentTraceparent, noteTenant } from '../telemetry/invocation-tracing.js';
import { buildRunInput } from '../agent-runtime/run-input.js';
import { resolveAgentTree } from '../agent-runtime/start-run.js';
import type { Deps } from '../composition-root.js';
import { ForbiddenError, NotFoundError, ValidationError, isAppErrorShape } from '../errors.js';
import { frontDoor, jsonResponse } from '../http/front-door.js';
import { admitRun, runIdFor } from '../runs/admission.js';
import { UnauthorizedError } from '../http/http-errors.js';
import { parseJson, readBodyWithLimit, requireJsonContentType } from '../http/request-body.js';
import type { DurableClientFactory } from '../http/runs-api.js';
import { IncomingActivitySchema, messageText } from './bot-activity.js';
import { normalizeServiceUrl } from './bot-token-verifier.js';
import type { BotConversationInput } from './bot-types.js';

export type BotMessagesDeps = Pick<Deps, 'config' | 'catalog' | 'tenants' | 'rateLimiter' | 'botTokens'> & Partial<Pick<Deps, 'budget'>>;

/** Durable instance id of the wrapper orchestration for a run (not a run id: the runs API shows the run itself). */
export function botConversationInstanceId(runId: string): string {
  return `bot.${runId}`;
}

/**
 * `POST /messages`: a Bot Framework activity (Teams). Order: bot configured (404), Bot Framework
 * token (401), activity shape (400), token `serviceUrl` = activity `serviceUrl` and the signing
 * key endorsed for the activity's `channelId` (401), Teams tenant
 * → our tenant (403 when unknown, suspended or without a bot agent), rate budget (429). A spent token budget is answered in the conversation: the wrapper starts
 * with a `refusal` and only posts it (no agent run). A message
 * starts `botConversationRun` idempotently (keyed by conversation and activity id, so a channel
 * redelivery starts nothing new) and is acknowledged at once with 202; typing, the run and the
 * reply happen in the orchestration. Other activity types are acknowledged and ignored.
 */
export function createBotMessagesHandler(deps: BotMessagesDeps, getClient: DurableClientFactory) {
  return frontDoor(async (request, door) => {
    const verifier = deps.botTokens;
    if (!verifier) throw new NotFoundError('No bot is configured in this deployment.', 'bot_not_configured');
    const claims = await verifier.verify(request.headers.get('authorization'));

    requireJsonContentType(request);
    const raw = parseJson(await readBodyWithLimit(request, deps.config.frontDoor.maxBodyBytes));
    const parsed = IncomingActivitySchema.safeParse(raw);
    if (!parsed.success) {
      throw new ValidationError(
        'The body is not a Bot Framework activity.',
        parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
      );
    }
    const activity = parsed.data;
    if (!claims.serviceUrl || normalizeServiceUrl(claims.serviceUrl) !== normalizeServiceUrl(activity.serviceUrl)) {
      throw new UnauthorizedError('token_service_url_mismatch', "The token was not issued for this activity's serviceUrl.", { 'www-authenticate': 'Bearer realm="bot"' });
    }
    // Bot Framework: the signing key must be endorsed for the activity's channel.
    if (!claims.endorsements?.includes(activity.channelId)) {
      throw new UnauthorizedError('token_channel_not_endorsed', `The token's signing key is not endorsed for channel "${activity.channelId}".`, {
        'www-authenticate': 'Bearer realm="bot"',
      });
    }
    if (activity.type !== 'message') return { status: 200 };

    const teamsTenantId = activity.channelData?.tenant?.id ?? '';
    const tenant = teamsTenantId && deps.tenants.findByTeamsTenantId ? await deps.tenants.findByTeamsTenantId(teamsTenantId) : undefined;
    if (!tenant) throw new ForbiddenError('This Microsoft Teams tenant is not connected to the service.', 'teams_tenant_unknown');
    if (tenant.status === 'suspended') throw new ForbiddenError(`Tenant "${tenant.id}" is suspended.`, 'tenant_suspended');
    if (!tenant.botAgent) throw new ForbiddenError(`Tenant "${tenant.id}" has no bot agent.`, 'bot_not_enabled');
    noteTenant(tenant.id);
    const idempotencyKey = `${activity.conversation.id}\n${activity.id}`;
    let runId: string;
    let refusal: BotConversationInput['refusal'];
    try {
      ({ runId } = await admitRun(deps, { door: 'bot', tenant, agentId: tenant.botAgent, idempotencyKey }));
    } catch (error) {
      // A spent token budget lasts until the next period: the user is told so in the conversation
      // (a 429 would only make the channel retry in silence). Other refusals answer as before.
      if (!isAppErrorShape(error) || error.code !== 'budget_exhausted') throw error;
      runId = runIdFor(tenant.id, 'bot', idempotencyKey);
      const renews = (error as { extensions?: { periodEnd?: unknown } }).extensions?.periodEnd;
      refusal = {
        code: 'budget_exhausted',
        message: `Sorry, this workspace has used its AI budget for the current billing period${typeof renews === 'string' ? `; it renews on ${renews.slice(0, 10)} (UTC)` : ''}. Please try again then, or ask your administrator.`,
      };
    }
    const instanceId = botConversationInstanceId(runId);
    const client = getClient(door.invocation);
    const existing = await client.getStatus(instanceId).catch(() => undefined);
    if (existing?.instanceId) return jsonResponse(202, refusal ? { refused: refusal.code } : { id: runId });

    const { agent, subAgents } = await resolveAgentTree(deps.catalog, tenant.id, tenant.botAgent);
    const run = buildRunInput({
      tenantId: tenant.id,
      runId,
      agent,
      subAgents,
      input: { inline: messageText(activity) },
      initiator: { kind: 'bot', id: activity.from.id },
      correlationId: door.correlationId,
      traceparent: currentTraceparent(),
    });
    const input: BotConversationInput = {
      run,
      ...(refusal ? { refusal } : {}),
      conversation: {
        serviceUrl: activity.serviceUrl,
        conversationId: activity.conversation.id,
        replyToId: activity.id,
        channelId: activity.channelId,
        bot: activity.recipient,
        user: activity.from,
      },
    };
    try {
      await client.startNew(Orchestrators.botConversationRun.name, { instanceId, input });
    } catch (error) {
      // A concurrent redelivery won the race: the conversation run exists, which is what we wanted.
      if (!(await client.getStatus(instanceId).catch(() => undefined))?.instanceId) throw error;
    }
    door.invocation.log(`bot message ${activity.id} from ${tenant.id}: ${refusal ? `refused (${refusal.code})` : `run ${runId}`}`);
    // A refused message names no run: the id would be one that never exists.
    return jsonResponse(202, refusal ? { refused: refusal.code } : { id: runId });
  });
}
