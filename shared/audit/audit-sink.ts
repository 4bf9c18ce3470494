import { doorOf, type Initiator } from '../agent-runtime/run-types.js';
import type { RunEvent, RunEventSink } from '../agent-runtime/run-events.js';
import type { BlobStore } from '../storage/blob-store.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import type { AuditAct, AuditLog } from './audit-log.js';
import type { AuditActor } from './audit-record.js';

function actorOfInitiator(initiator: Initiator): AuditActor {
  return { kind: initiator.kind, id: initiator.id, ...(initiator.onBehalfOf ? { onBehalfOf: initiator.onBehalfOf } : {}) };
}

/** The person or system a run acts for: the delegating user, else whoever started it. */
function principalOf(initiator: Initiator): string {
  return initiator.onBehalfOf ?? `${initiator.kind}:${initiator.id}`;
}

const MAX_ERROR_CHARS = 500;
const RUN_CACHE_SIZE = 1_000;

/**
 * The audit trail's subscriber on the run-event bus: turns each security-relevant run event into
 * one audit act (the event's `eventId` is the act id, so a repeated event is recorded once).
 * Acts the agent performs (model calls, tool calls) name the agent as the actor, on behalf of
 * the run's initiator, read once per run from the run record.
 */
export class AuditRunEventSink implements RunEventSink {
  readonly #log: AuditLog;
  readonly #blobs: BlobStore;
  readonly #runs = new Map<string, { agent: string; initiator: Initiator }>();

  constructor(log: AuditLog, runBlobs: BlobStore) {
    this.#log = log;
    this.#blobs = runBlobs;
  }

  async emit(event: RunEvent): Promise<void> {
    const act = await this.#actOf(event);
    if (act) await this.#log.append(act);
  }

  async #run(event: RunEvent): Promise<{ agent: string; initiator: Initiator } | undefined> {
    const cached = this.#runs.get(event.runId);
    if (cached) return cached;
    const raw = await new TenantBlobSpace(this.#blobs, event.tenantId).get(`runs/${event.runId}/run.json`);
    if (!raw) return undefined;
    const stored = JSON.parse(raw.toString('utf8')) as { agent?: { definition?: { id?: string } }; agentId?: string; initiator?: Initiator };
    if (!stored.initiator) return undefined;
    const run = { agent: stored.agent?.definition?.id ?? stored.agentId ?? 'unknown', initiator: stored.initiator };
    if (this.#runs.size >= RUN_CACHE_SIZE) this.#runs.delete(this.#runs.keys().next().value as string);
    this.#runs.set(event.runId, run);
    return run;
  }

  async #agentActor(event: RunEvent): Promise<AuditActor> {
    const run = await this.#run(event);
    return run ? { kind: 'agent', id: run.agent, onBehalfOf: principalOf(run.initiator) } : { kind: 'agent', id: 'unknown' };
  }

  async #actOf(event: RunEvent): Promise<AuditAct | undefined> {
    const base = { actId: event.eventId, at: event.at, tenantId: event.tenantId, runId: event.runId, correlationId: event.correlationId };
    const d = event.data;
    switch (event.type) {
      case 'run.started': {
        const initiator = d['initiator'] as Initiator;
        return {
          ...base,
          act: 'run.started',
          actor: actorOfInitiator(initiator),
          door: doorOf(initiator),
          details: { agent: d['agent'], version: d['version'], contentHash: d['contentHash'], depth: d['depth'] },
        };
      }
      case 'model.called':
        return {
          ...base,
          act: 'model.called',
          actor: await this.#agentActor(event),
          details: {
            turn: d['turn'],
            deployment: d['deployment'],
            model: d['model'],
            inputTokens: d['inputTokens'],
            outputTokens: d['outputTokens'],
            fallbackTaken: d['fallbackTaken'],
            finishReason: d['finishReason'],
            // The tool calls the model asked for: names, ids and argument digests, never the arguments.
            toolCallsRequested: d['toolCallsRequested'] ?? [],
          },
        };
      case 'tool.executed':
        return {
          ...base,
          act: 'tool.executed',
          actor: await this.#agentActor(event),
          details: { tool: d['tool'], callId: d['callId'], argumentsDigest: d['argumentsDigest'], outcome: d['ok'] ? 'ok' : 'error', ...(d['error'] ? { error: d['error'] } : {}) },
        };
      case 'approval.requested':
        return { ...base, act: 'approval.requested', actor: await this.#agentActor(event), details: { calls: d['calls'], deadline: d['deadline'] } };
      case 'approval.decided':
        return {
          ...base,
          act: 'approval.decided',
          actor: { kind: typeof d['decidedByKind'] === 'string' ? d['decidedByKind'] : 'user', id: String(d['decidedBy'] ?? 'unknown') },
          details: { toolCallId: d['toolCallId'], tool: d['tool'], approved: d['approved'], ...(typeof d['comment'] === 'string' ? { comment: d['comment'] } : {}) },
        };
      case 'approval.timed_out':
        return { ...base, act: 'approval.timed_out', actor: { kind: 'system', id: 'approval-deadline' }, details: { calls: d['calls'], deadline: d['deadline'] } };
      case 'run.completed':
        if (d['status'] === 'canceled') {
          return {
            ...base,
            act: 'run.canceled',
            actor:
              typeof d['canceledBy'] === 'string'
                ? { kind: typeof d['canceledByKind'] === 'string' ? d['canceledByKind'] : 'user', id: d['canceledBy'] }
                : { kind: 'unknown', id: 'unknown' },
            details: { turns: d['turns'], usage: d['usage'] },
          };
        }
        return {
          ...base,
          act: 'run.completed',
          actor: await this.#agentActor(event),
          details: { status: d['status'], turns: d['turns'], toolCalls: d['toolCalls'], usage: d['usage'] },
        };
      case 'run.failed':
        return {
          ...base,
          act: 'run.failed',
          actor: await this.#agentActor(event),
          details: { error: String(d['error'] ?? '').slice(0, MAX_ERROR_CHARS), turns: d['turns'] },
        };
      case 'budget.soft_limit_reached':
        // Once per tenant and period (a write-once marker decides which run step emits it).
        return {
          ...base,
          act: 'budget.soft_limit_reached',
          actor: { kind: 'system', id: 'budget' },
          details: {
            budget: d['budget'],
            used: d['used'],
            softLimit: d['softLimit'],
            softLimitPercent: d['softLimitPercent'],
            periodStart: d['periodStart'],
            periodEnd: d['periodEnd'],
          },
        };
      default:
        // model.waiting and other progress events are not security-relevant acts.
        return undefined;
    }
  }
}
