import type { AgentSnapshot } from '../agents/agent-definition.js';
import type { AgentRunInput, Initiator, PayloadRef } from './run-types.js';

/**
 * The one builder of a top-level {@link AgentRunInput}, for every door (runs API, webhooks,
 * queue, bot, batches). Pure, so orchestrators (batches) may call it too. The run id comes from
 * admission (`shared/runs/admission.ts`), never from a caller.
 */
export interface RunInputFields {
  tenantId: string;
  runId: string;
  agent: AgentSnapshot;
  subAgents: Record<string, AgentSnapshot>;
  input: PayloadRef;
  initiator: Initiator;
  correlationId: string;
  /** W3C `traceparent` of the door's span, when there is one (the run's span becomes its child). */
  traceparent?: string | undefined;
  variables?: Record<string, string> | undefined;
  deployments?: string[] | undefined;
}

export function buildRunInput(fields: RunInputFields): AgentRunInput {
  return {
    tenantId: fields.tenantId,
    runId: fields.runId,
    agent: fields.agent,
    input: fields.input,
    variables: fields.variables ?? {},
    initiator: fields.initiator,
    correlationId: fields.correlationId,
    ...(fields.traceparent ? { traceparent: fields.traceparent } : {}),
    depth: 0,
    subAgents: fields.subAgents,
    ...(fields.deployments ? { deployments: fields.deployments } : {}),
  };
}
