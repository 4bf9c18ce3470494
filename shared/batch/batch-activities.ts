import { resolveAgentTree } from '../agent-runtime/start-run.js';
import { runIdFor } from '../runs/admission.js';
import type { Deps } from '../composition-root.js';
import { isAppErrorShape } from '../errors.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import { exhaustionOf, isExhausted } from '../usage/budget-gate.js';
import { mapPayloadToInput } from '../webhooks/payload-mapping.js';
import type { BatchItem, BatchRunInput, BatchSummaryInput, PrepareBatchOutput } from './batch-types.js';

export type BatchActivityDeps = Pick<Deps, 'catalog'> & { runtime: Pick<Deps['runtime'], 'blobs' | 'budget' | 'nowMs'> };

function inputText(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input ?? null);
}

/** Slot as a path segment: `20261126T020000Z`. */
function slotSegment(slot: string): string {
  return slot.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Activities of `batchRun`. Both are idempotent, so Durable may retry them: item run ids are
 * derived from the batch id and item position, and the summary path from schedule and slot.
 */
export function createBatchActivities(deps: BatchActivityDeps): {
  prepareBatch: (input: BatchRunInput) => Promise<PrepareBatchOutput>;
  writeBatchSummary: (summary: BatchSummaryInput) => Promise<{ path: string }>;
} {
  return {
    async prepareBatch(input: BatchRunInput): Promise<PrepareBatchOutput> {
      const { agent, subAgents } = await resolveAgentTree(deps.catalog, input.tenantId, input.agentId);
      let sources: { source: string; item: unknown }[];
      if (input.input.documents) {
        const space = new TenantBlobSpace(deps.runtime.blobs, input.tenantId);
        const docs = await space.list(input.input.documents.prefix, input.input.documents.limit);
        sources = docs.map((d) => ({ source: d.path, item: d }));
      } else {
        sources = (input.input.items ?? []).map((item, index) => ({ source: `items[${index}]`, item }));
      }
      // A spent token budget starts none of the batch's runs: each item is recorded with the reason.
      const budget = await deps.runtime.budget?.status(input.tenantId);
      const spent = budget && isExhausted(budget) ? exhaustionOf(budget, deps.runtime.nowMs()) : undefined;
      const items: BatchItem[] = sources.map(({ source, item }, index) => {
        const runId = runIdFor(input.tenantId, 'batch', `${input.batchId}#${index}`);
        if (spent) {
          const renews = new Date(spent.periodEndMs).toISOString();
          return {
            runId,
            input: { inline: '' },
            source,
            rejected: `budget_exhausted: the tenant's token budget for this billing period is spent (${spent.used} of ${spent.budget} tokens); it renews at ${renews}`,
          };
        }
        try {
          return { runId, input: { inline: inputText(mapPayloadToInput(input.input.template, item)) }, source };
        } catch (error) {
          // One item that does not fit the template fails alone; the rest of the batch runs.
          if (!isAppErrorShape(error) || error.name !== 'ValidationError') throw error;
          const problems = (error as { problems?: readonly string[] }).problems ?? [];
          const detail = problems.length > 0 ? problems.map((p) => p.split(':')[0]).join(', ') : error.message;
          return { runId, input: { inline: '' }, source, rejected: `input_not_mapped: the item lacks values the schedule's input template needs: ${detail}` };
        }
      });
      return { agent, subAgents, items };
    },

    async writeBatchSummary(summary: BatchSummaryInput): Promise<{ path: string }> {
      const path = `batches/${summary.scheduleId}/${slotSegment(summary.slot)}.json`;
      await new TenantBlobSpace(deps.runtime.blobs, summary.tenantId).put(path, JSON.stringify(summary, null, 2), { contentType: 'application/json' });
      return { path };
    },
  };
}
