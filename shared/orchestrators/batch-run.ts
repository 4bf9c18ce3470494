import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import { buildRunInput } from '../agent-runtime/run-input.js';
import type { BatchItemResult, BatchLaneInput, BatchRunOutput, BatchSummaryInput, PrepareBatchOutput } from '../batch/batch-types.js';
import { awaited, callActivity, callSubOrchestrator, errorText, inputOf, retryPolicy } from './durable-calls.js';

/**
 * `batchRun`: one scheduled batch. Deterministic and replayed (DESIGN.md section 5): items and
 * their run ids come from the `prepareBatch` activity, limits from the input, time from
 * `currentUtcDateTime`.
 *
 * Bounded concurrency by lanes: the items are dealt round-robin to `min(maxConcurrency, items)`
 * `batchLane` sub-orchestrations, each running its items one after another as `agentRun`
 * sub-orchestrations, so at most `maxConcurrency` runs are ever in flight. Lanes rather than a
 * sliding window in one orchestrator because durable-functions reschedules a pending task that is
 * yielded again in a new `Task.any` (durable-js issue #574): the window would start runs twice.
 * A failed item is recorded, never stops the rest; an item that does not fit the schedule's input
 * template is recorded as failed without starting a run. Then `writeBatchSummary` stores the summary.
 *
 * Changing the order of scheduled work breaks in-flight batches: add `batchRunV2` instead.
 */

export function* batchRunOrchestrator(context: OrchestrationContext): Generator<Task, BatchRunOutput, unknown> {
  const input = inputOf(context, Orchestrators.batchRun);
  const startedAt = context.df.currentUtcDateTime.toISOString();
  const retry = retryPolicy(1_000, 3);
  const prepared = yield* awaited(callActivity(context, Activities.prepareBatch, input, retry));
  // Items that do not fit the schedule's template are recorded as failed and never started.
  const rejected: BatchItemResult[] = [];
  const runnable: { index: number; item: PrepareBatchOutput['items'][number] }[] = [];
  prepared.items.forEach((item, index) => {
    if (item.rejected !== undefined) rejected.push({ index, runId: item.runId, source: item.source, status: 'failed', error: item.rejected });
    else runnable.push({ index, item });
  });
  const laneCount = Math.min(Math.max(1, input.maxConcurrency), runnable.length);
  const lanes: BatchLaneInput[] = Array.from({ length: laneCount }, () => ({ runs: [] }));
  runnable.forEach(({ index, item }, position) => {
    const run = buildRunInput({
      tenantId: input.tenantId,
      runId: item.runId,
      agent: prepared.agent,
      subAgents: prepared.subAgents,
      input: item.input,
      variables: input.variables,
      initiator: input.initiator,
      correlationId: input.correlationId,
      traceparent: input.traceparent,
    });
    lanes[position % laneCount]?.runs.push({ index, run, source: item.source });
  });
  const laneResults =
    laneCount === 0
      ? []
      : ((yield context.df.Task.all(lanes.map((lane, k) => callSubOrchestrator(context, Orchestrators.batchLane, lane, `${input.batchId}.lane${k}`)))) as BatchItemResult[][]);
  const results = [...laneResults.flat(), ...rejected].sort((a, b) => a.index - b.index);

  const summary: BatchSummaryInput = {
    tenantId: input.tenantId,
    batchId: input.batchId,
    scheduleId: input.scheduleId,
    agentId: input.agentId,
    slot: input.slot,
    startedAt,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
    maxConcurrency: input.maxConcurrency,
    items: results,
  };
  const written = yield* awaited(callActivity(context, Activities.writeBatchSummary, summary, retry));
  const failed = results.filter((r) => r.status === 'failed').length;
  return { batchId: input.batchId, total: results.length, completed: results.length - failed, failed, summaryPath: written.path };
}

/** `batchLane`: runs its items one at a time; a failed run is recorded and the lane goes on. */
export function* batchLaneOrchestrator(context: OrchestrationContext): Generator<Task, BatchItemResult[], unknown> {
  const input = inputOf(context, Orchestrators.batchLane);
  const results: BatchItemResult[] = [];
  for (const { index, run, source } of input.runs) {
    try {
      const output = yield* awaited(callSubOrchestrator(context, Orchestrators.agentRun, run, run.runId));
      results.push({ index, runId: run.runId, source, status: output.status, usage: output.usage });
    } catch (error) {
      results.push({ index, runId: run.runId, source, status: 'failed', error: errorText(error) });
    }
  }
  return results;
}
