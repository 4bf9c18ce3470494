import type { RpcTypedData } from '../host/core-types.js';
import { typedDataToValue } from './json-text.js';

/**
 * What the SDK's orchestrator returns each episode (`OrchestratorState`), as JSON: the whole
 * list of actions the code has issued so far, whether it finished, its output or error and its
 * custom status. With replay schema V2+ `actions` is `[[...top-level actions]]`.
 */

/** The SDK's `ActionType` numbers. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/** `RetryOptions` as the SDK serialises it. */
export interface SdkRetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** One action; which fields are present depends on `actionType`. */
export interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: SdkRetryOptions;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  operation?: string;
  compoundActions?: SdkAction[];
}

export interface SdkOrchestratorState {
  isDone: boolean;
  actions: SdkAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

const OUT_OF_PROC_LABEL = '$OutOfProcData$:';

function isState(value: unknown): value is SdkOrchestratorState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { isDone?: unknown; actions?: unknown };
  return typeof v.isDone === 'boolean' && Array.isArray(v.actions) && v.actions.every((a) => Array.isArray(a));
}

/** The state an orchestrator invocation returned, or `undefined` when it is not one. */
export function stateFromReturnValue(data: RpcTypedData | null | undefined): SdkOrchestratorState | undefined {
  try {
    const value = typedDataToValue(data);
    return isState(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The state embedded in an orchestrator failure. The SDK reports an orchestration that threw
 * by throwing an error whose message ends with `\n\n$OutOfProcData$:<state JSON>`; the
 * extension replays the actions from it and fails the instance with `state.error`.
 */
export function stateFromFailure(error: unknown): SdkOrchestratorState | undefined {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
  if (message === undefined) return undefined;
  const at = message.indexOf(OUT_OF_PROC_LABEL);
  if (at < 0) return undefined;
  try {
    const value = JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as unknown;
    return isState(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `Name: message` for an error a function threw, as the Node worker reports it (`err.toString()`). */
export function describeError(error: unknown): string {
  if (error instanceof Error) return String(error);
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
