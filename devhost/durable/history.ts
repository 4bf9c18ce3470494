/**
 * Orchestration history events in the wire shape the `durable-functions` SDK replays: the
 * JSON that the real extension produces from DurableTask.Core's `HistoryEvent` classes
 * (PascalCase fields, numeric `EventType`). The SDK matches completions to tasks by
 * `TaskScheduledId` / `TimerId` and reads `Result` and `Input` as JSON text.
 */

/** DurableTask.Core event type numbers (the SDK's `HistoryEventType`). */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeNumber = (typeof EventType)[keyof typeof EventType];

const EVENT_TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(EventType).map(([name, n]) => [n, name]));

/** `TaskScheduled` for event type 4, and so on; `Unknown(<n>)` for anything else. */
export function eventTypeName(type: number): string {
  return EVENT_TYPE_NAMES.get(type) ?? `Unknown(${type})`;
}

/** DurableTask.Core `OrchestrationStatus` numbers, used by `ExecutionCompleted.OrchestrationStatus`. */
export const OrchestrationStatusNumber = {
  Running: 0,
  Completed: 1,
  ContinuedAsNew: 2,
  Failed: 3,
  Canceled: 4,
  Terminated: 5,
  Pending: 6,
  Suspended: 7,
} as const;

/** The structured failure the SDK turns into a `TaskFailedError` (PascalCase, as on the wire). */
export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  Properties?: Record<string, unknown>;
  InnerFailure?: FailureDetails;
}

/**
 * One history event. A single shape with optional fields keeps (de)serialisation cheap; which
 * fields are set depends on `EventType`, exactly as in DurableTask.Core's JSON. `IsPlayed` is not
 * stored: it is added when the history is sent to the SDK.
 */
export interface HistoryEvent {
  EventType: number;
  /** The task id for TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent; else -1. */
  EventId: number;
  /** ISO-8601 UTC. */
  Timestamp: string;
  Name?: string;
  /** JSON text. */
  Input?: string;
  /** JSON text (TaskCompleted, SubOrchestrationInstanceCompleted); the reason for a failed ExecutionCompleted. */
  Result?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  Reason?: string;
  Details?: string;
  FailureDetails?: FailureDetails;
  InstanceId?: string;
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  ParentInstance?: { Name: string; OrchestrationInstance: { InstanceId: string; ExecutionId: string }; TaskScheduleId: number };
  OrchestrationStatus?: number;
}

/** A new event stamped `at` (epoch ms). */
export function historyEvent(type: number, at: number, fields: Omit<HistoryEvent, 'EventType' | 'EventId' | 'Timestamp'> & { EventId?: number } = {}): HistoryEvent {
  return { EventType: type, EventId: -1, Timestamp: new Date(at).toISOString(), ...fields };
}

/**
 * Event types the SDK's replay ignores (`TaskOrchestrationExecutor` reacts to ExecutionStarted,
 * OrchestratorStarted, EventSent, EventRaised, ContinueAsNew and task results only). They stay in
 * the stored history, where the backend's own replay matches them, but are not sent to the SDK:
 * that halves what it parses on every episode.
 */
const NOT_READ_BY_SDK: ReadonlySet<number> = new Set([
  EventType.TaskScheduled,
  EventType.TimerCreated,
  EventType.SubOrchestrationInstanceCreated,
  EventType.OrchestratorCompleted,
  EventType.ExecutionCompleted,
  EventType.ExecutionFailed,
  EventType.ExecutionTerminated,
  EventType.ExecutionSuspended,
  EventType.ExecutionResumed,
  EventType.GenericEvent,
  EventType.HistoryState,
]);

/**
 * Serialises an event for the SDK with `IsPlayed` set, or `undefined` for events the SDK does
 * not read. `ExecutionStarted` goes without its input and instance data (the SDK takes the input
 * from the trigger payload). `IsPlayed` goes first so the event's own JSON is spliced in as is.
 */
export function eventJsonForSdk(event: HistoryEvent, played: boolean): string | undefined {
  if (NOT_READ_BY_SDK.has(event.EventType)) return undefined;
  if (event.EventType === EventType.ExecutionStarted) {
    return `{"IsPlayed":${played},"EventType":0,"EventId":-1,"Timestamp":${JSON.stringify(event.Timestamp)},"Name":${JSON.stringify(event.Name ?? '')}}`;
  }
  return (played ? '{"IsPlayed":true,' : '{"IsPlayed":false,') + JSON.stringify(event).slice(1);
}

/** The comma-separated SDK JSON of `events` (see {@link eventJsonForSdk}). */
export function historyJsonForSdk(events: readonly HistoryEvent[], played: boolean): string {
  let json = '';
  for (const event of events) {
    const item = eventJsonForSdk(event, played);
    if (item === undefined) continue;
    json = json === '' ? item : `${json},${item}`;
  }
  return json;
}
