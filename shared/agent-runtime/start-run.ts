import type { DurableClient } from 'durable-functions';
import type { AgentCatalog } from '../agents/agent-catalog.js';
import type { AgentSnapshot } from '../agents/agent-definition.js';
import { Orchestrators } from './activity-catalog.js';
import type { Admission } from '../runs/admission.js';
import { buildRunInput } from './run-input.js';
import type { Initiator } from './run-types.js';
import { replyInstanceIdFor, type ReplyTarget } from '../queue/reply-types.js';
import { currentTraceparent } from '../telemetry/telemetry.js';

export interface StartRunRequest {
  /** What admission decided (`shared/runs/admission.ts`): the tenant, the agent and the run id. */
  admission: Admission;
  /** True when the run id came from an idempotency key: an existing run is returned, not restarted. */
  idempotent: boolean;
  /** The user's request: text, or JSON that is passed to the model as text. */
  input: unknown;
  initiator: Initiator;
  correlationId: string;
  variables?: Record<string, string>;
  /**
   * Publish the result here when the run ends: the run is started through the
   * `queuedAgentRun` wrapper (instance `<runId>:reply`), and keeps `runId` itself.
   */
  reply?: ReplyTarget;
}

export interface StartedRun {
  runId: string;
  /** False when an idempotent request found the run already started. */
  created: boolean;
}

/** The tenant a run id belongs to; undefined when the id is not one of ours. */
export function tenantOfRunId(runId: string): string | undefined {
  const match = /^([a-z0-9][a-z0-9-]{1,62}?)--[A-Za-z0-9_-]{16,64}$/.exec(runId);
  return match?.[1];
}

/** Resolves `agent` and every sub-agent it may call (to the depth its limits allow). */
export async function resolveAgentTree(catalog: AgentCatalog, tenantId: string, agentId: string): Promise<{ agent: AgentSnapshot; subAgents: Record<string, AgentSnapshot> }> {
  const agent = await catalog.resolve(tenantId, agentId);
  const subAgents: Record<string, AgentSnapshot> = {};
  let frontier = [agent];
  for (let depth = 0; depth < agent.definition.limits.maxSubAgentDepth && frontier.length > 0; depth++) {
    const next: AgentSnapshot[] = [];
    for (const snapshot of frontier) {
      for (const ref of snapshot.definition.tools) {
        if ('agent' in ref && !subAgents[ref.agent]) {
          subAgents[ref.agent] = await catalog.resolve(tenantId, ref.agent);
          next.push(subAgents[ref.agent] as AgentSnapshot);
        }
      }
    }
    frontier = next;
  }
  return { agent, subAgents };
}

function inputText(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input ?? null);
}

/**
 * Starts an `agentRun` orchestration. Idempotent with an idempotency key: when the instance
 * already exists (any status) the existing run is returned and nothing new starts.
 * Large inputs are stored in the tenant's blob space by the first activity, so the caller
 * passes at most `inlineLimitBytes` inline here (bigger input is rejected by the doors).
 */
export async function startAgentRun(client: DurableClient, catalog: AgentCatalog, request: StartRunRequest): Promise<StartedRun> {
  const { runId, tenant, agentId } = request.admission;
  // With a reply queue the wrapper starts first and the run a moment later: either one existing
  // means this request was already accepted.
  const instanceIds = request.reply ? [runId, replyInstanceIdFor(runId)] : [runId];
  const exists = async (): Promise<boolean> => {
    for (const id of instanceIds) if ((await client.getStatus(id).catch(() => undefined))?.instanceId) return true;
    return false;
  };
  if (request.idempotent && (await exists())) return { runId, created: false };
  const { agent, subAgents } = await resolveAgentTree(catalog, tenant.id, agentId);
  const runInput = buildRunInput({
    tenantId: tenant.id,
    runId,
    agent,
    subAgents,
    input: { inline: inputText(request.input) },
    variables: request.variables,
    initiator: request.initiator,
    correlationId: request.correlationId,
    // The door's span (invocation-tracing.ts) becomes the parent of the run's span.
    traceparent: currentTraceparent(),
  });
  try {
    if (request.reply) {
      await client.startNew(Orchestrators.queuedAgentRun.name, {
        instanceId: replyInstanceIdFor(runId),
        input: { run: runInput, reply: request.reply },
      });
    } else {
      await client.startNew(Orchestrators.agentRun.name, { instanceId: runId, input: runInput });
    }
  } catch (error) {
    // A concurrent duplicate won the race: the run exists, which is what the caller wanted.
    if (request.idempotent && (await exists())) return { runId, created: false };
    throw error;
  }
  return { runId, created: true };
}
