import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { AgentSnapshot, ToolRef } from '../agents/agent-definition.js';
import { Activities, Orchestrators, type AgentRef, type CallModelInput, type CallModelOutput } from '../agent-runtime/activity-catalog.js';
import { callActivity, callSubOrchestrator, errorText, inputOf, resultOf, retryPolicy } from './durable-calls.js';
import {
  addUsage,
  RUN_EVENTS,
  totalTokens,
  ZERO_USAGE,
  type AgentRunInput,
  type AgentRunOutput,
  type ApprovalDecision,
  type ApprovalOutcome,
  type PayloadRef,
  type RunEndReason,
  type RunProgress,
  type ToolCallRequest,
  type ToolOutcome,
  type Usage,
} from '../agent-runtime/run-types.js';
import { doorOf, runTraceOf } from '../telemetry/trace-context.js';

/**
 * `agentRun`: the durable agent loop. Deterministic and replayed (DESIGN.md section 5): every
 * limit, timeout and agent setting comes from the input; time from `currentUtcDateTime`.
 *
 * Per turn: one `callModel` activity; if the model asks for tools, one `runTool` activity per
 * call, fanned out in parallel and raced against one durable timer per deadline; tools that need approval
 * wait for an `approval` event first; sub-agents run as sub-orchestrations. A `cancel` event
 * ends the run at the next step. Every `continueAsNewEveryTurns` turns the orchestration starts
 * over with compact state, so history stays bounded.
 *
 * Changing the order of scheduled work here breaks in-flight runs: once a release has shipped,
 * add `agentRunV2` instead.
 */

/** Longest single wait for the model during an outage; the backoff doubles up to it. */
const MAX_MODEL_WAIT_MS = 60_000;

function json(value: unknown): PayloadRef {
  return { inline: JSON.stringify(value) };
}

function agentRefOf(snapshot: AgentSnapshot): AgentRef {
  return { id: snapshot.definition.id, version: snapshot.definition.version, contentHash: snapshot.contentHash };
}

function findToolRef(snapshot: AgentSnapshot, name: string): ToolRef | undefined {
  return snapshot.definition.tools.find((t) => ('tool' in t ? t.tool : t.agent) === name);
}

export function* agentRunOrchestrator(context: OrchestrationContext): Generator<Task, AgentRunOutput | undefined, unknown> {
  const input = inputOf(context, Orchestrators.agentRun);
  const agent = input.agent;
  const limits = agent.definition.limits;
  const agentRef = agentRefOf(agent);
  const carry = input.carry ?? { turn: 0, usage: ZERO_USAGE, toolCalls: 0, messageCount: 0, pending: [], generation: 0 };
  let turn = carry.turn;
  let usage: Usage = carry.usage;
  let toolCalls = carry.toolCalls;
  let messageCount = carry.messageCount;
  let pending: ToolOutcome[] = carry.pending;
  let turnsThisGeneration = 0;
  // Trace context as data (CONVENTIONS.md 17): the run's span id is derived from the run id, so
  // activities parent their spans to it; the span itself is exported once, when the run ends.
  const trace = runTraceOf(input.runId, input.traceparent);
  const base = { tenantId: input.tenantId, runId: input.runId, correlationId: input.correlationId, trace };
  // When the run began (replay-stable; carried across continue-as-new) and what it is, for the run span.
  const runStartedAt = carry.startedAt ?? context.df.currentUtcDateTime.toISOString();
  const runFacts = { startedAt: runStartedAt, agent: agentRef, door: doorOf(input.initiator), depth: input.depth };
  // One listener per execution: raced against every step so a cancel lands at the next step.
  const cancel = context.df.waitForExternalEvent(RUN_EVENTS.cancel);
  /**
   * Races `tasks` against the cancel listener. A cancel that arrived while the run waited on a
   * step it does not race (recording an event, preparing the run) has already completed the
   * listener, and the SDK does not look at a completed child of a new `Task.any` again: check it
   * first (deterministic: replay sees the same history), or the cancel would be lost.
   */
  function* race(tasks: Task[]): Generator<Task, Task, unknown> {
    if (cancel.isCompleted) return cancel;
    return (yield context.df.Task.any([...tasks, cancel])) as Task;
  }
  const bookkeeping = retryPolicy(1_000, 3);

  /** How the latest approval round ended; shown in the run view until the next round. */
  let approvals: ApprovalOutcome[] | undefined;
  const progress = (phase: RunProgress['phase'], pendingTools: string[] = [], awaiting?: RunProgress['awaitingApproval'], modelWait?: RunProgress['modelWait']): void => {
    const status: RunProgress = {
      turn,
      phase,
      pendingTools,
      usage,
      ...(awaiting ? { awaitingApproval: awaiting } : {}),
      ...(approvals ? { approvals } : {}),
      ...(modelWait ? { modelWait } : {}),
    };
    context.df.setCustomStatus(status);
  };

  /**
   * One model step: `callModel` until it answers, riding through outages. When the activity
   * reports the model unreachable (`retry`: throttled, failing, open circuits, this instance at
   * its model-call cap), the run waits on a durable timer (the gateway's Retry-After, at least
   * the backoff, with deterministic jitter) and calls again with the same input; it holds no
   * activity slot meanwhile. After `modelOutageToleranceMs` without an answer it fails with
   * `model_unavailable`. Crashes and other errors inside the activity are Durable retries.
   */
  function* callModelStep(stepInput: CallModelInput): Generator<Task, CallModelOutput | 'canceled', unknown> {
    let outageStartedMs: number | undefined;
    let backoffMs = limits.modelRetryIntervalMs;
    for (;;) {
      const modelTask = callActivity(context, Activities.callModel, stepInput, retryPolicy(limits.modelRetryIntervalMs, limits.modelMaxAttempts));
      const winner = yield* race([modelTask]);
      if (winner === cancel) return 'canceled';
      if (modelTask.isFaulted) throw modelTask.result;
      const model = resultOf(modelTask);
      if (!model.retry) return model;

      const now = context.df.currentUtcDateTime.getTime();
      const firstWait = outageStartedMs === undefined;
      outageStartedMs ??= now;
      // Up to 20 % jitter so runs that met the same outage do not all come back at once.
      const jitter = 1 + parseInt(context.df.newGuid(input.runId).slice(0, 4), 16) / 0xffff / 5;
      const waitMs = Math.round(Math.min(MAX_MODEL_WAIT_MS, Math.max(model.retry.afterMs, backoffMs)) * jitter);
      const reason = `${model.retry.code}: ${model.retry.message}`;
      if (now + waitMs - outageStartedMs > limits.modelOutageToleranceMs) {
        throw new Error(
          `model_unavailable: no model answer for ${Math.round((now - outageStartedMs) / 1000)} s (outage tolerance ${Math.round(limits.modelOutageToleranceMs / 1000)} s); last: ${reason}`,
        );
      }
      const retryAt = new Date(now + waitMs);
      if (firstWait) {
        yield callActivity(
          context,
          Activities.recordRunEvent,
          {
            ...base,
            type: 'model.waiting',
            data: { turn, code: model.retry.code, reason: model.retry.message, retryAt: retryAt.toISOString() },
          },
          bookkeeping,
        );
      }
      progress('waiting_for_model', [], undefined, { retryAt: retryAt.toISOString(), reason, since: new Date(outageStartedMs).toISOString() });
      const timer = context.df.createTimer(retryAt);
      const woke = yield* race([timer]);
      if (woke === cancel) {
        timer.cancel();
        return 'canceled';
      }
      backoffMs = Math.min(MAX_MODEL_WAIT_MS, backoffMs * 2);
      progress('model');
    }
  }

  /** Ends the run; `facts` go into the `run.completed` event (e.g. which budget ended it). */
  function* finish(status: RunEndReason, answer: PayloadRef | undefined, facts: Record<string, string> = {}): Generator<Task, AgentRunOutput, unknown> {
    progress('done');
    const output: AgentRunOutput = {
      status,
      answer: answer && 'inline' in answer ? answer.inline : null,
      turns: turn,
      toolCalls,
      usage,
      ...(answer && 'blob' in answer ? { answerRef: answer.blob } : {}),
    };
    yield callActivity(
      context,
      Activities.recordRunEvent,
      {
        ...base,
        type: 'run.completed',
        data: {
          status,
          turns: turn,
          toolCalls,
          usage,
          ...runFacts,
          ...facts,
          // Who asked for the cancel (the runs API records it in the event), for the audit trail.
          ...(status === 'canceled' && cancel.isCompleted ? canceledByOf(cancel.result) : {}),
        },
      },
      bookkeeping,
    );
    return output;
  }

  /** Waits for approval decisions on `calls`; returns how each ended, or 'canceled'. */
  function* awaitApprovals(calls: ToolCallRequest[]): Generator<Task, Map<string, ApprovalOutcome> | 'canceled', unknown> {
    const requestedAt = context.df.currentUtcDateTime.toISOString();
    const deadline = new Date(context.df.currentUtcDateTime.getTime() + limits.approvalTimeoutMs);
    const undecided = new Map(calls.map((c) => [c.id, c]));
    const decided = new Map<string, ApprovalOutcome>();
    progress(
      'awaiting_approval',
      [],
      calls.map((c) => ({ toolCallId: c.id, tool: c.name, deadline: deadline.toISOString() })),
    );
    yield callActivity(
      context,
      Activities.recordRunEvent,
      {
        ...base,
        type: 'approval.requested',
        data: { calls: calls.map((c) => ({ toolCallId: c.id, tool: c.name })), deadline: deadline.toISOString() },
      },
      bookkeeping,
    );
    while (undecided.size > 0) {
      // A fresh timer per wait: re-yielding one task in a new Task.any reschedules it with a
      // new task id (durable-js issue #574).
      const timer: TimerTask = context.df.createTimer(deadline);
      const event = context.df.waitForExternalEvent(RUN_EVENTS.approval);
      const winner = yield* race([event, timer]);
      if (winner === timer) break;
      timer.cancel();
      if (winner === cancel) return 'canceled';
      const decision = event.result as ApprovalDecision;
      if (!decision || !undecided.has(decision.toolCallId)) continue;
      const call = undecided.get(decision.toolCallId) as ToolCallRequest;
      undecided.delete(decision.toolCallId);
      decided.set(call.id, {
        toolCallId: call.id,
        tool: call.name,
        outcome: decision.approved ? 'approved' : 'denied',
        ...(decision.decidedBy ? { decidedBy: decision.decidedBy } : {}),
      });
      yield callActivity(
        context,
        Activities.recordRunEvent,
        {
          ...base,
          type: 'approval.decided',
          data: { ...decision, tool: call.name, requestedAt },
        },
        bookkeeping,
      );
      progress(
        'awaiting_approval',
        [],
        [...undecided.values()].map((c) => ({ toolCallId: c.id, tool: c.name, deadline: deadline.toISOString() })),
      );
    }
    if (undecided.size > 0) {
      // The deadline passed with calls still undecided: their own outcome, not a human denial.
      for (const call of undecided.values()) decided.set(call.id, { toolCallId: call.id, tool: call.name, outcome: 'timed_out' });
      yield callActivity(
        context,
        Activities.recordRunEvent,
        {
          ...base,
          type: 'approval.timed_out',
          data: { calls: [...undecided.values()].map((c) => ({ toolCallId: c.id, tool: c.name })), deadline: deadline.toISOString(), requestedAt },
        },
        bookkeeping,
      );
    }
    approvals = [...decided.values()];
    return decided;
  }

  /** Runs one turn's tool calls; returns their outcomes, or 'canceled'. */
  function* runTools(calls: ToolCallRequest[]): Generator<Task, ToolOutcome[] | 'canceled', unknown> {
    const outcomes = new Map<string, ToolOutcome>();
    const needsApproval: ToolCallRequest[] = [];
    for (const call of calls) {
      const ref = findToolRef(agent, call.name);
      if (!ref) {
        outcomes.set(call.id, {
          callId: call.id,
          name: call.name,
          status: 'error',
          content: json({ error: 'unknown_tool', message: `There is no tool named "${call.name}". Use one of the tools provided.` }),
        });
      } else if (ref.approval === 'required') {
        needsApproval.push(call);
      }
    }
    if (needsApproval.length > 0) {
      const decided = yield* awaitApprovals(needsApproval);
      if (decided === 'canceled') return 'canceled';
      for (const call of needsApproval) {
        const outcome = decided.get(call.id)?.outcome;
        if (outcome === 'timed_out') {
          outcomes.set(call.id, {
            callId: call.id,
            name: call.name,
            status: 'approval_timeout',
            content: json({ error: 'approval_timeout', message: 'No decision was made before the approval deadline; the call was not run.' }),
          });
        } else if (outcome !== 'approved') {
          outcomes.set(call.id, {
            callId: call.id,
            name: call.name,
            status: 'denied',
            content: json({ error: 'denied', message: 'A human reviewer did not approve this call; it was not run.' }),
          });
        }
      }
    }

    const runnable = calls.filter((c) => !outcomes.has(c.id));
    progress(
      'tools',
      runnable.map((c) => c.name),
    );
    const timeoutOutcome = (call: ToolCallRequest): ToolOutcome => ({
      callId: call.id,
      name: call.name,
      status: 'timeout',
      content: json({ error: 'timeout', message: 'The tool did not answer in time.' }),
    });

    /**
     * One call in flight: a plain `runTool` activity (first attempt), an `agentToolCall`
     * sub-orchestration (the remaining attempts after a failed first one), or a sub-agent.
     * Tool calls carry the deadline of their first attempt; sub-agents have their own limits.
     */
    type InFlight = { call: ToolCallRequest; work: Task; kind: 'first' | 'retry' | 'agent'; deadline: number; timeoutMs: number; attemptsLeft: number };
    let inFlight: InFlight[] = [];
    for (const call of runnable) {
      const ref = findToolRef(agent, call.name) as ToolRef;
      if ('agent' in ref) {
        const child = input.subAgents?.[ref.agent];
        if (!child || input.depth >= limits.maxSubAgentDepth) {
          outcomes.set(call.id, {
            callId: call.id,
            name: call.name,
            status: 'error',
            content: json({ error: 'sub_agent_unavailable', message: `Sub-agent "${ref.agent}" cannot run here.` }),
          });
          continue;
        }
        const childRunId = `${input.runId}--${call.id}`.slice(0, 200);
        // The model calls a sub-agent with {"task": "..."}; the child sees the task as its request.
        let childInput: PayloadRef = call.arguments;
        if ('inline' in call.arguments) {
          try {
            const task = (JSON.parse(call.arguments.inline) as { task?: unknown }).task;
            if (typeof task === 'string') childInput = { inline: task };
          } catch {
            // Not JSON: pass the raw text through.
          }
        }
        const work = callSubOrchestrator(
          context,
          Orchestrators.agentRun,
          {
            tenantId: input.tenantId,
            runId: childRunId,
            agent: child,
            input: childInput,
            variables: input.variables,
            initiator: { kind: 'agent', id: input.runId, ...(input.initiator.onBehalfOf ? { onBehalfOf: input.initiator.onBehalfOf } : {}) },
            correlationId: input.correlationId,
            traceparent: trace.traceparent,
            depth: input.depth + 1,
            subAgents: input.subAgents ?? {},
            ...(input.deployments ? { deployments: input.deployments } : {}),
          } satisfies AgentRunInput,
          childRunId,
        );
        inFlight.push({ call, work, kind: 'agent', deadline: Number.POSITIVE_INFINITY, timeoutMs: 0, attemptsLeft: 0 });
      } else {
        const timeoutMs = ref.timeoutMs ?? limits.toolTimeoutMs;
        const deadline = context.df.currentUtcDateTime.getTime() + timeoutMs;
        const work = callActivity(context, Activities.runTool, { ...base, agent: agentRef, call, timeoutMs });
        inFlight.push({ call, work, kind: 'first', deadline, timeoutMs, attemptsLeft: (ref.maxAttempts ?? limits.toolMaxAttempts) - 1 });
      }
    }

    // Every call is raced against its deadline with ONE durable timer per distinct deadline (all
    // calls of a turn usually share one): N calls cost one timer, not N. Each call is wrapped in
    // its own Task.any so a failure does not end the group early (Task.all fails fast), because a
    // task that is still running must never be yielded again: the extension would schedule it a
    // second time. A call whose first attempt failed retries with its remaining attempts in an
    // `agentToolCall` sub-orchestration against the same deadline, in a second round; that keeps
    // retry timers out of this history while a timeout timer is pending (see agent-tool-call.ts).
    while (inFlight.length > 0) {
      const groups = new Map<number, InFlight[]>();
      const units: Task[] = [];
      for (const f of inFlight) {
        if (f.kind === 'agent') {
          units.push(context.df.Task.any([f.work])); // completes (never faults) when the child ends
        } else {
          const group = groups.get(f.deadline);
          if (group) group.push(f);
          else groups.set(f.deadline, [f]);
        }
      }
      const timers: TimerTask[] = [];
      for (const [deadline, group] of groups) {
        const timer = context.df.createTimer(new Date(deadline));
        timers.push(timer);
        units.push(context.df.Task.any([context.df.Task.all(group.map((f) => context.df.Task.any([f.work]))), timer]));
      }
      const winner = yield* race([context.df.Task.all(units)]);
      // Cancel the timers that lost so the instance can finish.
      for (const timer of timers) if (!timer.isCompleted) timer.cancel();
      if (winner === cancel) return 'canceled';

      const now = context.df.currentUtcDateTime.getTime();
      const next: InFlight[] = [];
      for (const f of inFlight) {
        const { call } = f;
        if (!f.work.isCompleted && !f.work.isFaulted) {
          // Only a call whose group timer fired can still be running: it timed out.
          outcomes.set(call.id, timeoutOutcome(call));
        } else if (f.work.isFaulted) {
          if (f.kind === 'first' && f.attemptsLeft > 0) {
            if (now >= f.deadline) {
              outcomes.set(call.id, timeoutOutcome(call));
              continue;
            }
            const work = callSubOrchestrator(
              context,
              Orchestrators.agentToolCall,
              { tool: { ...base, agent: agentRef, call, timeoutMs: f.timeoutMs }, maxAttempts: f.attemptsLeft, retryIntervalMs: limits.toolRetryIntervalMs, attemptsBefore: 1 },
              `${input.runId}~${turn}~${call.id}`.slice(0, 256),
            );
            next.push({ ...f, work, kind: 'retry', attemptsLeft: 0 });
          } else {
            outcomes.set(call.id, {
              callId: call.id,
              name: call.name,
              status: 'error',
              content: json({ error: f.kind === 'agent' ? 'sub_agent_failed' : 'tool_failed', message: errorText(f.work.result) }),
            });
          }
        } else if (f.kind === 'agent') {
          const child = f.work.result as AgentRunOutput;
          usage = addUsage(usage, child.usage);
          outcomes.set(call.id, { callId: call.id, name: call.name, status: 'ok', content: json({ status: child.status, answer: child.answer, turns: child.turns }) });
        } else {
          outcomes.set(call.id, f.work.result as ToolOutcome);
        }
      }
      inFlight = next;
    }
    return calls.map((c) => outcomes.get(c.id) as ToolOutcome);
  }

  try {
    if (!input.carry) {
      yield callActivity(context, Activities.prepareRun, { run: input, startedAt: context.df.currentUtcDateTime.toISOString() }, bookkeeping);
    }
    for (;;) {
      // A cancel that arrived during bookkeeping is honoured here, before continue-as-new could drop it.
      if (cancel.isCompleted) return yield* finish('canceled', undefined);
      if (turn >= limits.maxTurns) return yield* finish('max_turns', undefined);
      if (totalTokens(usage) >= limits.maxTotalTokens) return yield* finish('budget_exhausted', undefined);
      if (turnsThisGeneration >= limits.continueAsNewEveryTurns) {
        context.df.continueAsNew({
          ...input,
          carry: { turn, usage, toolCalls, messageCount, pending, generation: carry.generation + 1, startedAt: runStartedAt },
        } satisfies AgentRunInput);
        return undefined;
      }
      turn += 1;
      turnsThisGeneration += 1;
      progress('model');
      const model = yield* callModelStep({
        ...base,
        agent: agentRef,
        turn,
        messageCount,
        ...(turn === 1 ? { userInput: input.input } : {}),
        toolOutcomes: pending,
        ...(input.deployments ? { deployments: input.deployments } : {}),
      });
      if (model === 'canceled') return yield* finish('canceled', undefined);
      if (model.failure) {
        // The tenant's period budget is spent: the run ends, like at its own token limit, with `budget_exhausted`.
        if (model.failure.code === 'budget_exhausted') return yield* finish('budget_exhausted', undefined, { budgetLimit: 'tenant_period' });
        if (model.failure.code === 'conversation_lost') throw new Error(`conversation_lost: ${model.failure.message}`);
        throw new Error(`model call failed (${model.failure.code}): ${model.failure.message}`);
      }
      usage = addUsage(usage, model.usage);
      messageCount = model.messageCount;
      pending = [];
      if (model.answer) return yield* finish('completed', model.answer);
      if (model.toolCalls.length === 0) return yield* finish('completed', { inline: '' });
      toolCalls += model.toolCalls.length;
      const outcomes = yield* runTools(model.toolCalls);
      if (outcomes === 'canceled') return yield* finish('canceled', undefined);
      pending = outcomes;
    }
  } catch (error) {
    yield callActivity(
      context,
      Activities.recordRunEvent,
      {
        ...base,
        type: 'run.failed',
        data: { error: errorText(error), turns: turn, toolCalls, usage, ...runFacts },
      },
      bookkeeping,
    );
    throw error;
  }
}

/** Who asked for the cancel, from the `cancel` event the runs API raises (for the audit trail). */
function canceledByOf(payload: unknown): { canceledBy?: string; canceledByKind?: string } {
  const p = payload as { requestedBy?: unknown; requestedByKind?: unknown } | undefined;
  return {
    ...(typeof p?.requestedBy === 'string' ? { canceledBy: p.requestedBy } : {}),
    ...(typeof p?.requestedByKind === 'string' ? { canceledByKind: p.requestedByKind } : {}),
  };
}
