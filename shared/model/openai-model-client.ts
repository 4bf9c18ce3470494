import { DefaultAzureCredential, getBearerTokenProvider } from '@azure/identity';
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError, AzureOpenAI } from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import {
  ModelCallError,
  isModelCallError,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  type FinishReason,
  type ModelCallOptions,
  type ModelClient,
} from './model-client.js';

/**
 * The real {@link ModelClient}, over the official `openai` package: Azure OpenAI (keyless, Entra
 * ID tokens) or any OpenAI-compatible endpoint (OpenAI itself, the devhost's offline model).
 * The SDK's own retries are off (`maxRetries: 0`): the model gateway is the one retry layer.
 */

/** Entra ID scope for Azure OpenAI / Azure AI Foundry data-plane calls. */
export const AZURE_OPENAI_SCOPE = 'https://cognitiveservices.azure.com/.default';

/** Where the model lives. */
export type OpenAIModelClientOptions =
  | {
      kind: 'azure';
      /** Resource endpoint, e.g. `https://my-resource.openai.azure.com`. Deployments come per request. */
      endpoint: string;
      /** Data-plane API version, e.g. `2024-10-21`. */
      apiVersion: string;
      /** Returns a bearer token for {@link AZURE_OPENAI_SCOPE}; see {@link createAzureTokenProvider}. */
      tokenProvider: () => Promise<string>;
    }
  | {
      kind: 'openai-compatible';
      /** Base URL ending in `/v1`, e.g. `https://api.openai.com/v1` or the offline model's URL. */
      baseUrl: string;
      /** Omitted: no real key is sent (the offline model needs none). */
      apiKey?: string;
    };

/**
 * A keyless token provider for Azure OpenAI: `DefaultAzureCredential` (managed identity on
 * Azure, developer sign-in locally). Pass `managedIdentityClientId` for a user-assigned identity.
 * Tokens are cached and refreshed by `@azure/identity`.
 */
export function createAzureTokenProvider(options: { managedIdentityClientId?: string } = {}): () => Promise<string> {
  const credential = new DefaultAzureCredential(options.managedIdentityClientId === undefined ? {} : { managedIdentityClientId: options.managedIdentityClientId });
  return getBearerTokenProvider(credential, AZURE_OPENAI_SCOPE);
}

/** Marks a token failure so it maps to `auth_failed` after the SDK wraps it. */
class TokenAcquisitionError extends Error {
  override readonly name = 'TokenAcquisitionError';
}

/** Builds the adapter. One instance serves every deployment of its endpoint; build it once per process. */
export function createOpenAIModelClient(options: OpenAIModelClientOptions): ModelClient {
  // Explicit values throughout: the SDK would otherwise fall back to OPENAI_* / AZURE_OPENAI_*
  // environment variables, and only the config module reads the environment.
  const common = { maxRetries: 0, organization: null, project: null } as const;
  const sdk: OpenAI =
    options.kind === 'azure'
      ? new AzureOpenAI({
          ...common,
          baseURL: `${options.endpoint.replace(/\/+$/, '')}/openai`,
          apiVersion: options.apiVersion,
          azureADTokenProvider: async () => {
            try {
              return await options.tokenProvider();
            } catch (error) {
              throw new TokenAcquisitionError(`could not get an Entra ID token for Azure OpenAI: ${messageOf(error)}`, {
                cause: error,
              });
            }
          },
        })
      : new OpenAI({
          ...common,
          baseURL: options.baseUrl,
          // The SDK requires a key; OpenAI-compatible servers without auth ignore it.
          apiKey: options.apiKey ?? 'no-key',
        });

  return {
    async complete(request: ChatRequest, callOptions: ModelCallOptions): Promise<ChatResponse> {
      let completion: ChatCompletion;
      try {
        completion = await sdk.chat.completions.create(toOpenAIRequest(request), {
          timeout: callOptions.timeoutMs,
          maxRetries: 0,
          ...(callOptions.signal === undefined ? {} : { signal: callOptions.signal }),
        });
      } catch (error) {
        throw toModelCallError(error, request.deployment, callOptions.signal);
      }
      return fromOpenAIResponse(completion, request.deployment);
    },
  };
}

function toOpenAIMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        // The API rejects an empty tool_calls array.
        ...(message.toolCalls !== undefined && message.toolCalls.length > 0
          ? {
              tool_calls: message.toolCalls.map((c) => ({
                id: c.id,
                type: 'function' as const,
                function: { name: c.name, arguments: c.arguments },
              })),
            }
          : {}),
      };
  }
}

/** Maps a provider-neutral request onto the chat completions body (`model` = the deployment). */
export function toOpenAIRequest(request: ChatRequest): ChatCompletionCreateParamsNonStreaming {
  const tools: ChatCompletionTool[] | undefined = request.tools?.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
  return {
    model: request.deployment,
    messages: request.messages.map(toOpenAIMessage),
    ...(tools !== undefined && tools.length > 0 ? { tools } : {}),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.maxOutputTokens === undefined ? {} : { max_completion_tokens: request.maxOutputTokens }),
  };
}

function toFinishReason(reason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  switch (reason) {
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content_filter';
    default:
      // Some compatible servers answer tool calls with `stop`; trust the calls themselves.
      return hasToolCalls ? 'tool_calls' : 'stop';
  }
}

/** Maps a chat completion onto the provider-neutral response. A body without choices is a server fault. */
export function fromOpenAIResponse(completion: ChatCompletion, deployment: string): ChatResponse {
  const choice = completion.choices[0];
  if (choice === undefined) {
    throw new ModelCallError({ code: 'server_error', deployment, message: `response from ${deployment} has no choices` });
  }
  const toolCalls = (choice.message.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : []));
  return {
    message: { content: choice.message.content ?? choice.message.refusal ?? null, toolCalls },
    finishReason: toFinishReason(choice.finish_reason, toolCalls.length > 0),
    usage: {
      inputTokens: completion.usage?.prompt_tokens ?? 0,
      outputTokens: completion.usage?.completion_tokens ?? 0,
    },
    model: completion.model,
    ...(completion.id ? { id: completion.id } : {}),
  };
}

/**
 * Reads the wait a 429/503 asks for, in milliseconds: `retry-after-ms` (Azure OpenAI, OpenAI)
 * first, then `Retry-After` as seconds or an HTTP date relative to `nowEpochMs`.
 */
export function parseRetryAfterMs(headers: Headers | undefined, nowEpochMs: number): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.ceil(Number(ms));
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowEpochMs);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 5) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/**
 * Maps whatever the SDK threw onto a {@link ModelCallError}. SDK classes are matched with
 * `instanceof`: they never cross a process boundary, and they carry no distinguishing `name`.
 * Anything unrecognised (a bug) is rethrown unchanged.
 */
export function toModelCallError(error: unknown, deployment: string, callerSignal?: AbortSignal): unknown {
  if (isModelCallError(error)) return error;
  // The caller's signal wins over whatever the SDK made of the abort.
  if (callerSignal?.aborted || error instanceof APIUserAbortError) {
    return new ModelCallError({ code: 'aborted', deployment, message: `call to ${deployment} aborted by the caller`, cause: error });
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new ModelCallError({ code: 'timeout', deployment, message: `no answer from ${deployment} in time`, cause: error });
  }
  if (causeChain(error).some((e) => e instanceof TokenAcquisitionError)) {
    const token = causeChain(error).find((e) => e instanceof TokenAcquisitionError);
    return new ModelCallError({ code: 'auth_failed', deployment, message: messageOf(token), cause: error });
  }
  if (!(error instanceof APIError)) return error;

  const status = error.status;
  if (status === undefined) {
    // APIConnectionError: DNS, refused connection, reset. The endpoint never answered.
    return new ModelCallError({ code: 'server_error', deployment, message: `cannot reach ${deployment}: ${error.message}`, cause: error });
  }
  const retryAfterMs = parseRetryAfterMs(error.headers, Date.now());
  const base = {
    deployment,
    endpointStatus: status,
    message: `${deployment} answered ${error.message}`,
    cause: error,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
  if (status === 429) return new ModelCallError({ ...base, code: 'rate_limited' });
  if (status === 408) return new ModelCallError({ ...base, code: 'timeout' });
  if (status >= 500) return new ModelCallError({ ...base, code: 'server_error' });
  if (status === 401 || status === 403) return new ModelCallError({ ...base, code: 'auth_failed' });
  if (error.code === 'content_filter') return new ModelCallError({ ...base, code: 'content_filter' });
  return new ModelCallError({ ...base, code: 'bad_request' });
}
