import type { InstanceRecord } from './durable-store.js';
import { EventType, eventTypeName, type HistoryEvent } from './history.js';
import { parseJsonLenient } from './json-text.js';

/**
 * The status JSON of the durable HTTP API (the extension's `StatusResponsePayload`), with the
 * history in the shape `showHistory=true` returns it.
 */

export interface StatusOptions {
  showInput: boolean;
  showHistory: boolean;
  showHistoryOutput: boolean;
}

const STATUS_NAMES = ['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended'];

/** `2024-05-01T10:20:30Z`: seconds precision, as the extension formats status times. */
function statusTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * Reshapes a raw history as the extension's client does: event types as names, each task's
 * `TaskScheduled` folded into its completion (`FunctionName`, `ScheduledTime`), orchestrator
 * episode markers dropped, results only with `showHistoryOutput`, inputs only with `showInput`.
 */
export function presentHistory(history: readonly HistoryEvent[], options: StatusOptions): Record<string, unknown>[] {
  const scheduled = new Map<string, { index: number; name: string | undefined; time: string; input: string | undefined }>();
  const dropped = new Set<number>();
  const items: Record<string, unknown>[] = [];
  history.forEach((event, index) => {
    const item: Record<string, unknown> = { ...event, EventType: eventTypeName(event.EventType) };
    switch (event.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(`${event.EventType}_${event.EventId}`, { index, name: event.Name, time: event.Timestamp, input: event.Input });
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed: {
        const createdType =
          event.EventType === EventType.TaskCompleted || event.EventType === EventType.TaskFailed ? EventType.TaskScheduled : EventType.SubOrchestrationInstanceCreated;
        const origin = scheduled.get(`${createdType}_${event.TaskScheduledId ?? -1}`);
        if (origin) {
          item['ScheduledTime'] = origin.time;
          item['FunctionName'] = origin.name;
          if (options.showInput && origin.input !== undefined) item['Input'] = origin.input;
          dropped.add(origin.index);
        }
        delete item['TaskScheduledId'];
        if (event.EventType === EventType.TaskCompleted || event.EventType === EventType.SubOrchestrationInstanceCompleted) {
          if (options.showHistoryOutput) item['Result'] = parseJsonLenient(event.Result);
          else delete item['Result'];
        }
        break;
      }
      case EventType.ExecutionStarted:
        item['FunctionName'] = event.Name;
        delete item['Name'];
        delete item['OrchestrationInstance'];
        delete item['ParentInstance'];
        break;
      case EventType.ExecutionCompleted:
        item['OrchestrationStatus'] = STATUS_NAMES[event.OrchestrationStatus ?? -1] ?? event.OrchestrationStatus;
        if (options.showHistoryOutput) item['Result'] = parseJsonLenient(event.Result);
        else delete item['Result'];
        break;
      case EventType.TimerFired:
        delete item['TimerId'];
        break;
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
        dropped.add(index);
        break;
      default:
        break;
    }
    if (!options.showInput) delete item['Input'];
    delete item['EventId'];
    items.push(item);
  });
  return items.filter((_, index) => !dropped.has(index));
}

/**
 * The status object for an instance. `history` repeats `historyEvents` because the JS SDK's
 * `DurableOrchestrationStatus` reads `history` while the extension names the field
 * `historyEvents`.
 */
export function statusPayload(record: InstanceRecord, options: StatusOptions, history: readonly HistoryEvent[] | undefined): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.status,
    input: options.showInput ? parseJsonLenient(record.input) : null,
    customStatus: parseJsonLenient(record.customStatus),
    output: parseJsonLenient(record.output),
    createdTime: statusTime(record.createdAt),
    lastUpdatedTime: statusTime(record.updatedAt),
  };
  if (options.showHistory && history && record.status !== 'Pending') {
    const events = presentHistory(history, options);
    payload['historyEvents'] = events;
    payload['history'] = events;
  }
  return payload;
}
