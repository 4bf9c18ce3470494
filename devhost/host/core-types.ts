/**
 * The slice of the `@azure/functions-core` contract that the devhost implements.
 * The real worker ships these types privately; we declare only what we use.
 * Shapes follow the Functions RPC protocol (FunctionRpc.proto) as the Node library reads them.
 */

export interface RpcHttpData {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  params?: Record<string, string>;
  /** Sent instead of `headers`/`query`/`params` to a worker declaring `UseNullableValueDictionaryForHttp` (the Node worker does). */
  nullableHeaders?: Record<string, RpcNullableString>;
  nullableQuery?: Record<string, RpcNullableString>;
  nullableParams?: Record<string, RpcNullableString>;
  identities?: unknown[];
  body?: RpcTypedData | null;
  statusCode?: string;
  cookies?: RpcHttpCookie[];
  enableContentNegotiation?: boolean;
}

export interface RpcNullableString {
  value?: string | null;
}

export interface RpcHttpCookie {
  name?: string | null;
  value?: string | null;
  domain?: { value?: string | null } | null;
  path?: { value?: string | null } | null;
  expires?: { value?: { seconds?: number; nanos?: number } | null } | null;
  secure?: { value?: boolean | null } | null;
  httpOnly?: { value?: boolean | null } | null;
  sameSite?: string | null;
  maxAge?: { value?: number | null } | null;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
  /** SDK-type bindings: a reference the worker-side extension turns into an SDK object. */
  modelBindingData?: RpcModelBindingData | null;
}

export interface RpcModelBindingData {
  version?: string;
  /** Which registered factory decodes `content`, e.g. `AzureServiceBusReceivedMessage`. */
  source?: string;
  contentType?: string;
  content?: Uint8Array;
}

export interface RpcBindingInfo {
  type?: string;
  direction?: 'in' | 'out' | 'inout';
  name?: string;
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface RpcParameterBinding {
  name: string;
  data: RpcTypedData | null | undefined;
}

export interface RpcInvocationResponse {
  invocationId?: string;
  outputData?: { name?: string; data?: RpcTypedData | null }[];
  returnValue?: RpcTypedData | null;
}

export interface CoreInvocationContext {
  invocationId: string;
  request: {
    invocationId: string;
    functionId: string;
    inputData: RpcParameterBinding[];
    triggerMetadata: Record<string, RpcTypedData>;
    retryContext?: RpcRetryContext;
    traceContext?: unknown;
  };
  metadata: FunctionMetadata;
  state?: string;
  log: (level: string, category: string, message: string) => void;
}

/** The worker's `RpcRetryContext` (camel-cased protobuf JSON), as `@azure/functions` reads it. */
export interface RpcRetryContext {
  retryCount: number;
  maxRetryCount: number;
  exception?: { message: string; source: string; stackTrace: string };
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export type HookName = 'preInvocation' | 'postInvocation' | 'appStart' | 'appTerminate' | 'log';
export type HookCallback = (context: Record<string, unknown>) => unknown;

/** A function the app registered, with its trigger binding picked out. */
export interface RegisteredFunction {
  name: string;
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  triggerBindingName: string;
  trigger: RpcBindingInfo & { type: string };
}

/** What an invocation produced: the return binding and each named output binding. */
export interface InvocationOutcome {
  invocationId: string;
  returnValue: RpcTypedData | null | undefined;
  outputs: Map<string, RpcTypedData | null | undefined>;
  durationMs: number;
}

/**
 * Invokes a registered function the way the Node worker does. Trigger and extra input data
 * are RPC typed data keyed by binding name; `durableClient` inputs are filled in by the host.
 * Rejects with the handler's error when the handler throws.
 */
export type Invoker = (
  fn: RegisteredFunction,
  inputs: Record<string, RpcTypedData | null | undefined>,
  triggerMetadata?: Record<string, RpcTypedData>,
  options?: InvokeOptions,
) => Promise<InvocationOutcome>;

export interface InvokeOptions {
  /** The invocation id to use (a fresh UUID when absent); HTTP streaming forwards the request under it before invoking. */
  invocationId?: string;
  /** Set by a retry policy (host/retry-policy.ts) on every attempt, the first included. */
  retryContext?: RpcRetryContext;
}
