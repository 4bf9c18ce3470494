import { randomUUID } from 'node:crypto';
import type { InvocationContext, Timer } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { Deps } from '../composition-root.js';
import { resolveActiveTenant } from '../tenancy/tenant-directory.js';
import { batchInstanceId, type BatchRunInput } from './batch-types.js';
import { latestSlot } from './cron-slots.js';
import type { Schedule } from './schedule.js';
import { currentTraceparent } from '../telemetry/telemetry.js';

export type BatchSchedulerDeps = Pick<Deps, 'config' | 'tenants' | 'schedules' | 'now'>;

/** A schedule whose slot is due now. */
export interface DueSlot {
  schedule: Schedule;
  slotMs: number;
}

/**
 * Which enabled schedules have a slot in `(nowMs - catchUpMs, nowMs]`, one (the latest) per
 * schedule. Pure, so tests drive it with any clock.
 */
export function dueSlots(schedules: readonly Schedule[], nowMs: number, catchUpMs: number): DueSlot[] {
  const due: DueSlot[] = [];
  for (const schedule of schedules) {
    if (!schedule.enabled) continue;
    const slotMs = latestSlot(schedule.cron, nowMs - catchUpMs, nowMs);
    if (slotMs !== undefined) due.push({ schedule, slotMs });
  }
  return due;
}

export interface SchedulerTickResult {
  started: string[];
  existing: string[];
  skipped: { scheduleId: string; reason: string }[];
}

/**
 * One scheduler tick: starts one `batchRun` per due schedule and slot. Idempotent: the instance id
 * comes from schedule and slot, and an instance that already exists (in any state) is left alone,
 * because Durable would otherwise restart a finished instance with the same id. Does no model
 * call and no fan-out itself: the batch orchestration does the work.
 */
export async function runSchedulerTick(deps: BatchSchedulerDeps, client: DurableClient, log: (message: string) => void): Promise<SchedulerTickResult> {
  const result: SchedulerTickResult = { started: [], existing: [], skipped: [] };
  const due = dueSlots(await deps.schedules.list(), deps.now(), deps.config.batch.catchUpMs);
  for (const { schedule, slotMs } of due) {
    const batchId = batchInstanceId(schedule.tenantId, schedule.id, slotMs);
    try {
      const tenant = await resolveActiveTenant(deps.tenants, schedule.tenantId);
      if (!tenant.allowedAgents.includes(schedule.agent)) {
        result.skipped.push({ scheduleId: schedule.id, reason: `agent "${schedule.agent}" is not allowed for tenant "${tenant.id}"` });
        continue;
      }
      const existing = await client.getStatus(batchId).catch(() => undefined);
      if (existing?.instanceId) {
        result.existing.push(batchId);
        continue;
      }
      // The timer's door span (invocation-tracing.ts): the batch's runs hang from it.
      const traceparent = currentTraceparent();
      const input: BatchRunInput = {
        batchId,
        scheduleId: schedule.id,
        tenantId: tenant.id,
        agentId: schedule.agent,
        slot: new Date(slotMs).toISOString(),
        maxConcurrency: schedule.maxConcurrency,
        input: schedule.input,
        variables: schedule.variables,
        initiator: { kind: 'schedule', id: schedule.id },
        correlationId: randomUUID(),
        ...(traceparent ? { traceparent } : {}),
      };
      await client.startNew(Orchestrators.batchRun.name, { instanceId: batchId, input });
      result.started.push(batchId);
    } catch (error) {
      // One bad schedule (suspended tenant, storage hiccup) must not stop the others; the next
      // tick retries it while its slot is inside the catch-up window.
      result.skipped.push({ scheduleId: schedule.id, reason: (error as Error).message });
    }
  }
  for (const id of result.started) log(`batchScheduler: started ${id}`);
  for (const s of result.skipped) log(`batchScheduler: skipped schedule ${s.scheduleId}: ${s.reason}`);
  return result;
}

/** The `batchScheduler` timer handler. */
export function createBatchSchedulerHandler(deps: BatchSchedulerDeps, getClient: (context: InvocationContext) => DurableClient) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    await runSchedulerTick(deps, getClient(context), (message) => context.log(message));
  };
}
