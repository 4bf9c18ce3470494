import type { Clock } from '../host/clock.js';
import type { Invoker } from '../host/core-types.js';
import type { ActivityWork } from './engine-instances.js';
import type { DurableFunctionIndex } from './function-catalog.js';
import { EventType, historyEvent, type FailureDetails, type HistoryEvent } from './history.js';
import { jsonToTypedData, typedDataToJson } from './json-text.js';
import { describeError } from './orchestrator-state.js';

/**
 * Runs one activity: invokes the function with its JSON input and delivers `TaskCompleted` or
 * `TaskFailed` to the instance (at-least-once: a result for an older execution is discarded by
 * the episode). An unknown activity fails the task with the catalogue's message.
 */

export interface ActivityRunnerOptions {
  functions: DurableFunctionIndex;
  invoke: Invoker;
  clock: Clock;
  /** Delivers the result to the instance's inbox. */
  deliver(instanceId: string, executionId: string, event: HistoryEvent): void;
  /** Called once per activity run (the engine's stats). */
  onRun(): void;
}

/** A function that runs one activity and never rejects. */
export function createActivityRunner(options: ActivityRunnerOptions): (work: ActivityWork) => Promise<void> {
  const { functions, invoke, clock } = options;
  return async (work) => {
    const fn = functions.find('activity', work.name);
    let event: HistoryEvent;
    if (!fn) {
      const reason = functions.missing('activity', work.name) ?? '';
      event = historyEvent(EventType.TaskFailed, clock.now(), { TaskScheduledId: work.taskId, Reason: reason, Details: reason });
    } else {
      try {
        const outcome = await invoke(fn, { [fn.triggerBindingName]: jsonToTypedData(work.inputJson) });
        event = historyEvent(EventType.TaskCompleted, clock.now(), { TaskScheduledId: work.taskId, Result: typedDataToJson(outcome.returnValue) });
      } catch (error) {
        event = historyEvent(EventType.TaskFailed, clock.now(), { TaskScheduledId: work.taskId, ...activityFailure(work.name, error) });
      }
    }
    options.onRun();
    options.deliver(work.instanceId, work.executionId, event);
  };
}

/** `Reason`, `Details` and (when the SDK sent structured details) `FailureDetails` of a failed activity. */
export function activityFailure(name: string, error: unknown): { Reason: string; Details: string; FailureDetails?: FailureDetails } {
  const text = describeError(error);
  const stack = error instanceof Error ? error.stack : undefined;
  const result: { Reason: string; Details: string; FailureDetails?: FailureDetails } = {
    Reason: `Activity function '${name}' failed: ${text}`,
    Details: JSON.stringify({ Message: text, StackTrace: stack ?? null }),
  };
  // With an ExceptionPropertiesProvider registered, the SDK puts a JSON payload in the message.
  const message = error instanceof Error ? error.message : undefined;
  if (message?.startsWith('{')) {
    try {
      const payload = JSON.parse(message) as { errorType?: unknown; errorMessage?: unknown; stackTrace?: unknown; isNonRetriable?: unknown; properties?: unknown };
      if (typeof payload.errorType === 'string' && typeof payload.errorMessage === 'string') {
        const details: FailureDetails = { ErrorType: payload.errorType, ErrorMessage: payload.errorMessage, IsNonRetriable: payload.isNonRetriable === true };
        if (typeof payload.stackTrace === 'string') details.StackTrace = payload.stackTrace;
        if (typeof payload.properties === 'object' && payload.properties !== null) details.Properties = payload.properties as Record<string, unknown>;
        result.FailureDetails = details;
        result.Reason = `Activity function '${name}' failed: ${payload.errorType}: ${payload.errorMessage}`;
      }
    } catch {
      // not a payload
    }
  }
  return result;
}
