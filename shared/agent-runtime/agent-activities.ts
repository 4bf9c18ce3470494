import { randomUUID } from 'node:crypto';
import type { AgentSnapshot } from '../agents/agent-definition.js';
import { renderPrompt } from '../agents/agent-definition.js';
import type { ChatMessage, ChatTool } from '../model/model-client.js';
import type { ModelGateway } from '../model/model-gateway.js';
import { TenantBlobSpace, type BlobStore } from '../storage/blob-store.js';
import type { EgressOptions } from '../tools/egress-request.js';
import type { Tool, ToolResult } from '../tools/tool.js';
import type { CallModelInput, CallModelOutput, PrepareRunInput, RunEventInput, RunToolInput, AgentRef } from './activity-catalog.js';
import { ConversationStore, type StoredAnswer } from './conversation-store.js';
import { indexRun } from './run-index.js';
import { doorOf, runTraceOf } from '../telemetry/trace-context.js';
import { readPayload, toPayloadRef } from './payloads.js';
import type { RunEvent, RunEventSink } from './run-events.js';
import { digestOf } from '../audit/audit-record.js';
import type { ToolOutcome } from './run-types.js';
import { appLog } from '../telemetry/app-log.js';
import {
  claimSoftLimit,
  isExhausted,
  isOverSoftLimit,
  softLimitMarkerPath,
  SOFT_LIMIT_EVENT,
  type BudgetStatus,
  type RunBudgetCheck,
  type SoftLimitClaim,
} from '../usage/budget-gate.js';
import { contentFromJsonText, contentText, NO_CONTENT, type ContentPolicy } from '../telemetry/content-policy.js';
import { instruments } from '../telemetry/instruments.js';
import { Attr, SpanKind, context, errorTypeOf, failSpan, runContext, trace, tracer, type Span } from '../telemetry/telemetry.js';

/** What the agent activities need. Built once in the composition root; tests pass fakes. */
export interface AgentRuntimeDeps {
  blobs: BlobStore;
  gateway: ModelGateway;
  tools: ReadonlyMap<string, Tool>;
  events: RunEventSink;
  nowMs: () => number;
  /**
   * The tenant's token budget (shared/usage/budget-gate.ts), asked before each model call: a spent
   * budget ends the run with `budget_exhausted` instead of calling the model. Unset: no budgets.
   */
  budget?: RunBudgetCheck;
  /** The environment's egress rules and the resolver network tools use (egress-request.ts). */
  egress: EgressOptions;
  /** The run's effective egress allow-list: the tenant's entries, limited to the deployment policy. */
  egressAllowList(tenantId: string): Promise<readonly string[]>;
  /** Telemetry: the model provider's name (`gen_ai.provider.name`) and whether content may be recorded. Default: `openai`, no content. */
  telemetry?: { providerName: string; content: ContentPolicy };
}

/** Stored with the run at start: exactly what ran, for replays and audits. */
interface StoredRun {
  agent: AgentSnapshot;
  variables: Record<string, string>;
  initiator: PrepareRunInput['run']['initiator'];
  correlationId: string;
  depth: number;
  /** What each callable sub-agent does, shown to the model when the tool entry has no description. */
  subAgentDescriptions?: Record<string, string>;
}

const runCache = new Map<string, StoredRun>();
const RUN_CACHE_LIMIT = 500;

async function loadRun(space: TenantBlobSpace, runId: string, agent: AgentRef): Promise<StoredRun> {
  const key = `${space.tenantId}/${runId}/${agent.contentHash}`;
  const cached = runCache.get(key);
  if (cached) return cached;
  const content = await space.get(`runs/${runId}/run.json`);
  if (!content) throw new Error(`run ${runId} has no stored definition`);
  const run = JSON.parse(content.toString('utf8')) as StoredRun;
  if (run.agent.contentHash !== agent.contentHash) throw new Error(`run ${runId}: stored agent does not match ${agent.contentHash}`);
  if (runCache.size >= RUN_CACHE_LIMIT) runCache.delete(runCache.keys().next().value as string);
  runCache.set(key, run);
  return run;
}

function toolsForModel(run: StoredRun, tools: ReadonlyMap<string, Tool>): ChatTool[] {
  const out: ChatTool[] = [];
  for (const ref of run.agent.definition.tools) {
    if ('tool' in ref) {
      const tool = tools.get(ref.tool);
      if (tool) out.push(tool.spec());
    } else {
      out.push({
        name: ref.agent,
        description: ref.description ?? run.subAgentDescriptions?.[ref.agent] ?? `Delegate a task to the ${ref.agent} agent.`,
        parameters: { type: 'object', properties: { task: { type: 'string', description: 'What the agent should do' } }, required: ['task'] },
      });
    }
  }
  return out;
}

export function createAgentActivities(deps: AgentRuntimeDeps) {
  const emit = (e: Omit<RunEvent, 'at'>): Promise<void> => deps.events.emit({ ...e, at: new Date(deps.nowMs()).toISOString() });
  /** Soft-limit claims known to exist, by tenant and period: the marker is read once per process, not per model call. */
  const softLimitClaims = new Map<string, SoftLimitClaim>();

  /**
   * Emits `budget.soft_limit_reached` once per tenant and period: the step that claims the
   * period's write-once marker emits it (again, with the same event id and data, on its retry,
   * on whichever instance that runs). The bus's telemetry subscriber counts it
   * (`agent.budget.soft_limits`), the audit trail records it.
   */
  async function noteSoftLimit(input: CallModelInput, budget: BudgetStatus): Promise<void> {
    const key = `${budget.tenantId}/${softLimitMarkerPath(budget)}`;
    const step = `${input.runId}#${input.turn}`;
    let claim = softLimitClaims.get(key);
    if (!claim) {
      claim = await claimSoftLimit(deps.blobs, budget, step, deps.nowMs());
      softLimitClaims.set(key, claim);
    }
    if (claim.claimedBy !== step) return;
    await emit({
      eventId: claim.eventId,
      type: SOFT_LIMIT_EVENT,
      tenantId: input.tenantId,
      runId: input.runId,
      correlationId: input.correlationId,
      ...(input.trace ? { trace: input.trace } : {}),
      data: claim.data,
    });
  }

  const providerName = deps.telemetry?.providerName ?? 'openai';
  const content = deps.telemetry?.content ?? NO_CONTENT;

  async function prepareRun({ run, startedAt }: PrepareRunInput): Promise<{ agent: AgentRef }> {
    const space = new TenantBlobSpace(deps.blobs, run.tenantId);
    const stored: StoredRun = {
      agent: run.agent,
      variables: run.variables,
      initiator: run.initiator,
      correlationId: run.correlationId,
      depth: run.depth,
      subAgentDescriptions: Object.fromEntries(Object.entries(run.subAgents ?? {}).map(([id, snapshot]) => [id, snapshot.definition.description])),
    };
    await space.put(`runs/${run.runId}/run.json`, JSON.stringify(stored), { contentType: 'application/json', ifNoneMatch: true });
    // Top-level runs are listed by the runs API from this index (sub-agent runs are not).
    if (run.depth === 0 && startedAt !== undefined) await indexRun(space, run.runId, startedAt);
    await emit({
      eventId: `${run.runId}:run.started`,
      type: 'run.started',
      tenantId: run.tenantId,
      runId: run.runId,
      correlationId: run.correlationId,
      trace: runTraceOf(run.runId, run.traceparent),
      data: {
        agent: run.agent.definition.id,
        version: run.agent.definition.version,
        contentHash: run.agent.contentHash,
        source: run.agent.source,
        initiator: run.initiator,
        door: doorOf(run.initiator),
        depth: run.depth,
      },
    });
    return { agent: { id: run.agent.definition.id, version: run.agent.definition.version, contentHash: run.agent.contentHash } };
  }

  async function callModel(input: CallModelInput): Promise<CallModelOutput> {
    const space = new TenantBlobSpace(deps.blobs, input.tenantId);
    const run = await loadRun(space, input.runId, input.agent);
    const definition = run.agent.definition;
    const inlineMax = definition.limits.inlinePayloadMaxBytes;
    const conversation = new ConversationStore(space, input.runId);
    const nothing = { usage: { inputTokens: 0, outputTokens: 0, modelCalls: 0 }, toolCalls: [], deployment: '', fallbackTaken: false };

    const fresh: ChatMessage[] = [];
    if (input.userInput) fresh.push({ role: 'user', content: await readPayload(space, input.userInput) });
    for (const outcome of input.toolOutcomes) {
      fresh.push({ role: 'tool', toolCallId: outcome.callId, content: await readPayload(space, outcome.content) });
    }
    const count = await conversation.append(input.messageCount, fresh);

    // One truth per step: an earlier run of this step (a crash after the write, a timeout, a
    // Durable retry) may have stored its answer already. Act on that one; the model is not asked
    // again (it would answer differently, with new tool-call ids).
    let answer: StoredAnswer | undefined = await conversation.answerAt(count);
    if (answer === undefined) {
      // The tenant's period budget, from the per-process cache (the overshoot bound: shared/usage/README.md).
      const budget = await deps.budget?.status(input.tenantId);
      // Crossing the soft limit is noted first, so a jump straight past the budget still reports it.
      if (budget && isOverSoftLimit(budget)) await noteSoftLimit(input, budget);
      if (budget && isExhausted(budget)) {
        const renews = new Date(budget.periodEndMs).toISOString();
        const message = `the tenant's token budget for this billing period is spent (${budget.used} of ${budget.budget} tokens); it renews at ${renews}`;
        return { messageCount: count, ...nothing, failure: { code: 'budget_exhausted', message } };
      }
      let history: ChatMessage[];
      try {
        history = await conversation.read(count);
      } catch (error) {
        if ((error as { name?: unknown }).name !== 'ConversationLostError') throw error;
        return { messageCount: count, ...nothing, failure: { code: 'conversation_lost', message: (error as Error).message } };
      }
      const system = renderPrompt(definition.systemPrompt, { ...definition.variables, ...run.variables });
      let result: Awaited<ReturnType<ModelGateway['call']>>;
      const deployments = input.deployments ?? definition.model.deployments;
      const messages: ChatMessage[] = [{ role: 'system', content: system }, ...history];
      // `chat {model}`: one client span per real model call (a re-run that found the stored answer makes none).
      const requestModel = deployments[0] ?? 'unknown';
      const common = { [Attr.operationName]: 'chat', [Attr.providerName]: providerName, [Attr.requestModel]: requestModel, [Attr.tenantId]: input.tenantId };
      const span = tracer().startSpan(
        `chat ${requestModel}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            ...common,
            [Attr.conversationId]: input.runId,
            [Attr.agentId]: input.agent.id,
            [Attr.agentName]: input.agent.id,
            [Attr.agentVersion]: String(input.agent.version),
            [Attr.contentHash]: input.agent.contentHash,
            'app.run.turn': input.turn,
          },
        },
        runContext(input.trace),
      );
      const captureContent = await content.captureContent(input.tenantId);
      if (captureContent) {
        span.setAttribute(Attr.systemInstructions, contentText([{ type: 'text', content: system }]));
        span.setAttribute(Attr.inputMessages, contentText(history));
      }
      const callStarted = performance.now();
      const endModelSpan = (errorType?: string): void => {
        instruments().operationDuration.record((performance.now() - callStarted) / 1000, {
          ...common,
          ...(errorType ? { [Attr.errorType]: errorType } : { [Attr.responseModel]: result.usage.model }),
        });
        if (errorType) failSpan(span, errorType);
        span.end();
      };
      try {
        result = await context.with(trace.setSpan(context.active(), span), () =>
          deps.gateway.call(
            {
              messages,
              tools: toolsForModel(run, deps.tools),
              ...(definition.model.temperature === undefined ? {} : { temperature: definition.model.temperature }),
              ...(definition.model.maxOutputTokens === undefined ? {} : { maxOutputTokens: definition.model.maxOutputTokens }),
            },
            { deployments: deployments.map((name) => ({ name })), timeoutMs: definition.model.timeoutMs },
          ),
        );
      } catch (error) {
        endModelSpan(errorTypeOf(error));
        const e = error as { name?: unknown; code?: unknown; message?: unknown; retryable?: unknown; retryAfterMs?: unknown };
        if (e?.retryable === false && typeof e.code === 'string') {
          return { messageCount: count, ...nothing, usage: { ...nothing.usage, modelCalls: 1 }, failure: { code: e.code, message: String(e.message) } };
        }
        if (e?.name === 'ModelCallError' && e.retryable === true && typeof e.code === 'string') {
          // The gateway's advice reaches the orchestrator as data: it waits on a durable timer.
          const afterMs = typeof e.retryAfterMs === 'number' ? e.retryAfterMs : 0;
          return { messageCount: count, ...nothing, retry: { afterMs, code: e.code, message: String(e.message) } };
        }
        throw error;
      }
      const answered = result;
      context.with(trace.setSpan(context.active(), span), () => recordModelCall(span, input, answered, common, captureContent));
      endModelSpan();
      const message = result.response.message;
      answer = await conversation.recordAnswer(count, {
        message: { role: 'assistant', content: message.content, ...(message.toolCalls.length ? { toolCalls: message.toolCalls } : {}) },
        step: {
          inputTokens: result.usage.inputTokens,
          outputTokens: result.usage.outputTokens,
          deployment: result.usage.deployment,
          fallbackTaken: result.usage.fallbackTaken,
          finishReason: result.response.finishReason,
          model: result.usage.model,
        },
      });
    }

    const { message, step } = answer;
    const toolCallsOf = message.toolCalls ?? [];
    await emit({
      eventId: `${input.runId}:model.called:${input.turn}`,
      type: 'model.called',
      tenantId: input.tenantId,
      runId: input.runId,
      correlationId: input.correlationId,
      ...(input.trace ? { trace: input.trace } : {}),
      data: {
        turn: input.turn,
        deployment: step.deployment,
        model: step.model,
        inputTokens: step.inputTokens,
        outputTokens: step.outputTokens,
        fallbackTaken: step.fallbackTaken,
        finishReason: step.finishReason,
        toolCalls: toolCallsOf.map((c) => c.name),
        // For the audit trail: what the model asked to run, with a digest of the arguments (never the arguments).
        toolCallsRequested: toolCallsOf.map((c) => ({ callId: c.id, tool: c.name, argumentsDigest: digestOf(c.arguments) })),
      },
    });
    const usage = { inputTokens: step.inputTokens, outputTokens: step.outputTokens, modelCalls: 1 };
    const base = { messageCount: count + 1, usage, deployment: step.deployment, fallbackTaken: step.fallbackTaken };
    if (toolCallsOf.length > 0) {
      const toolCalls = await Promise.all(
        toolCallsOf.map(async (c) => ({
          id: c.id,
          name: c.name,
          arguments: await toPayloadRef(space, `runs/${input.runId}/payloads/${c.id}-arguments.json`, c.arguments, inlineMax),
        })),
      );
      return { ...base, toolCalls };
    }
    const text = typeof message.content === 'string' ? message.content : '';
    const answerRef = await toPayloadRef(space, `runs/${input.runId}/answer-${input.turn}.txt`, text, inlineMax);
    return { ...base, toolCalls: [], answer: answerRef };
  }

  /**
   * `execute_tool {tool}`: one span per execution of the activity, so a retried call shows as a
   * second attempt with its own span; a re-run that returns the stored outcome says so
   * (`app.tool.reused_outcome`).
   */
  async function runTool(input: RunToolInput): Promise<ToolOutcome> {
    const span = tracer().startSpan(
      `execute_tool ${input.call.name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [Attr.operationName]: 'execute_tool',
          [Attr.toolName]: input.call.name,
          [Attr.toolCallId]: input.call.id,
          [Attr.toolType]: 'function',
          [Attr.tenantId]: input.tenantId,
          [Attr.conversationId]: input.runId,
          [Attr.agentId]: input.agent.id,
        },
      },
      runContext(input.trace),
    );
    try {
      const outcome = await context.with(trace.setSpan(context.active(), span), () => executeTool(input, span));
      if (outcome.status !== 'ok') failSpan(span, outcome.status === 'error' ? errorCodeOf(outcome) : outcome.status);
      return outcome;
    } catch (error) {
      failSpan(span, errorTypeOf(error));
      throw error;
    } finally {
      span.end();
    }
  }

  async function executeTool(input: RunToolInput, span: Span): Promise<ToolOutcome> {
    const space = new TenantBlobSpace(deps.blobs, input.tenantId);
    const run = await loadRun(space, input.runId, input.agent);
    const { call } = input;
    // One truth per step: a re-run after the outcome was stored returns that outcome. A tool with
    // side effects is not invoked again (its effect already happened once); a tool without them
    // may run again, and the outcome stored first still wins below (one read saved per call).
    const outcomePath = `runs/${input.runId}/tools/${call.id}.json`;
    const tool = deps.tools.get(call.name);
    if (tool?.sideEffects !== false) {
      const stored = await space.get(outcomePath);
      if (stored) {
        span.setAttribute('app.tool.reused_outcome', true);
        const outcome = JSON.parse(stored.toString('utf8')) as ToolOutcome;
        // The attempt that stored it may have died before reporting it: report it (again; the
        // event id is the same, so the event log and the audit trail keep it once).
        await emitToolExecuted(input, outcome, undefined);
        return outcome;
      }
    }

    const started = deps.nowMs();
    let result: ToolResult;
    // Read once: the tool's input, and the digest the audit trail keeps of it.
    let argumentsText: string | undefined;
    if (!tool) {
      result = { ok: false, error: { code: 'unknown_tool', message: `There is no tool named "${call.name}".` } };
    } else {
      let args: unknown;
      const text = await readPayload(space, call.arguments);
      argumentsText = text;
      if (await content.captureContent(input.tenantId)) span.setAttribute(Attr.toolArguments, contentFromJsonText(text));
      try {
        args = text.trim() === '' ? {} : JSON.parse(text);
      } catch {
        args = undefined;
      }
      if (args === undefined) {
        result = { ok: false, error: { code: 'invalid_arguments', message: `arguments for ${call.name} are not valid JSON` } };
      } else {
        // The timeout the orchestrator races this call against: a call it has given up on stops
        // here too, instead of running on (and keeping the instance open).
        const controller = new AbortController();
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, input.timeoutMs ?? run.agent.definition.limits.toolTimeoutMs);
        try {
          result = await tool.invoke(args, {
            tenantId: input.tenantId,
            runId: input.runId,
            callId: call.id,
            idempotencyKey: `${input.runId}:${call.id}`,
            blobs: space,
            egressAllowList: await deps.egressAllowList(input.tenantId),
            nowMs: deps.nowMs,
            signal: controller.signal,
            egress: deps.egress,
          });
        } finally {
          clearTimeout(timer);
        }
        // Stopped at the deadline the orchestrator races this call against: the same answer as
        // its durable timer gives, whichever of the two the orchestrator sees first.
        if (timedOut && !result.ok) result = { ok: false, error: { code: 'timeout', message: 'The tool did not answer in time.' } };
      }
    }
    const resultText = JSON.stringify(result.ok ? result.output : { error: result.error.code, message: result.error.message });
    if (result.ok && (await content.captureContent(input.tenantId))) span.setAttribute(Attr.toolResult, contentFromJsonText(resultText));
    // A large result goes to a blob of its own per attempt, so the outcome record below (first
    // write wins) never points at another attempt's content.
    const resultPath = `runs/${input.runId}/payloads/${call.id}-result-${randomUUID()}.json`;
    const ref = await toPayloadRef(space, resultPath, resultText, run.agent.definition.limits.inlinePayloadMaxBytes);
    const mine: ToolOutcome = { callId: call.id, name: call.name, status: result.ok ? 'ok' : 'error', content: ref };
    const written = await space.put(outcomePath, JSON.stringify(mine), { contentType: 'application/json', ifNoneMatch: true });
    const outcome = written.created ? mine : (JSON.parse(((await space.get(outcomePath)) as Buffer).toString('utf8')) as ToolOutcome);
    appLog('info', 'tool executed', {
      [Attr.tenantId]: input.tenantId,
      [Attr.conversationId]: input.runId,
      [Attr.toolName]: call.name,
      [Attr.toolCallId]: call.id,
      outcome: outcome.status,
      ...(result.ok ? {} : { [Attr.errorType]: result.error.code }),
    });
    await emitToolExecuted(
      input,
      outcome,
      { ...(result.ok ? {} : { error: result.error.code }), durationMs: deps.nowMs() - started, bytes: Buffer.byteLength(resultText) },
      argumentsText,
    );
    return outcome;
  }

  /** `tool.executed` for the outcome that stands; `measured` is known only to the attempt that ran the tool. */
  async function emitToolExecuted(
    input: RunToolInput,
    outcome: ToolOutcome,
    measured: { error?: string; durationMs: number; bytes: number } | undefined,
    argumentsText?: string,
  ): Promise<void> {
    const { call } = input;
    const text = argumentsText ?? ('inline' in call.arguments ? call.arguments.inline : await readPayload(new TenantBlobSpace(deps.blobs, input.tenantId), call.arguments));
    await emit({
      eventId: `${input.runId}:tool.executed:${call.id}`,
      type: 'tool.executed',
      tenantId: input.tenantId,
      runId: input.runId,
      correlationId: input.correlationId,
      ...(input.trace ? { trace: input.trace } : {}),
      data: {
        callId: call.id,
        tool: call.name,
        argumentsDigest: digestOf(text),
        ok: outcome.status === 'ok',
        ...(measured ?? {}),
      },
    });
  }

  async function recordRunEvent(input: RunEventInput): Promise<void> {
    const discriminator = typeof input.data['toolCallId'] === 'string' ? `:${input.data['toolCallId']}` : '';
    await emit({
      eventId: `${input.runId}:${input.type}${discriminator}`,
      type: input.type,
      tenantId: input.tenantId,
      runId: input.runId,
      correlationId: input.correlationId,
      ...(input.trace ? { trace: input.trace } : {}),
      data: input.data,
    });
  }

  /** Attributes, metrics and the log line of one answered model call (span still open). */
  function recordModelCall(span: Span, input: CallModelInput, result: Awaited<ReturnType<ModelGateway['call']>>, common: Record<string, string>, captureContent: boolean): void {
    const { usage, response } = result;
    span.setAttributes({
      [Attr.responseModel]: usage.model,
      [Attr.finishReasons]: [response.finishReason],
      [Attr.inputTokens]: usage.inputTokens,
      [Attr.outputTokens]: usage.outputTokens,
      [Attr.deployment]: usage.deployment,
      [Attr.fallback]: usage.fallbackTaken,
      ...(response.id ? { [Attr.responseId]: response.id } : {}),
    });
    if (captureContent) {
      span.setAttribute(
        Attr.outputMessages,
        contentText([{ role: 'assistant', content: response.message.content, toolCalls: response.message.toolCalls, finishReason: response.finishReason }]),
      );
    }
    const m = instruments();
    const attrs = { ...common, [Attr.responseModel]: usage.model };
    m.tokenUsage.record(usage.inputTokens, { ...attrs, [Attr.tokenType]: 'input' });
    m.tokenUsage.record(usage.outputTokens, { ...attrs, [Attr.tokenType]: 'output' });
    if (usage.fallbackTaken)
      m.modelFallbacks.add(1, { [Attr.tenantId]: input.tenantId, [Attr.deployment]: usage.deployment, [Attr.requestModel]: common[Attr.requestModel] ?? 'unknown' });
    appLog('info', 'model call', {
      [Attr.tenantId]: input.tenantId,
      [Attr.conversationId]: input.runId,
      [Attr.deployment]: usage.deployment,
      [Attr.fallback]: usage.fallbackTaken,
      [Attr.inputTokens]: usage.inputTokens,
      [Attr.outputTokens]: usage.outputTokens,
      'app.run.turn': input.turn,
    });
  }

  return { prepareRun, callModel, runTool, recordRunEvent };
}

/** The error code a failed tool outcome carries inline (`{"error": "<code>", ...}`), else `tool_error`. */
function errorCodeOf(outcome: ToolOutcome): string {
  if (!('inline' in outcome.content)) return 'tool_error';
  try {
    const code = (JSON.parse(outcome.content.inline) as { error?: unknown }).error;
    return typeof code === 'string' && /^[a-z0-9_]{1,64}$/.test(code) ? code : 'tool_error';
  } catch {
    return 'tool_error';
  }
}
