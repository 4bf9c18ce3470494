import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { runSpanIdOf } from '../../shared/telemetry/trace-context.js';
import { repoRoot, startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';
import { attr, startOtlpReceiver, type OtlpReceiver, type OtlpSpan } from '../helpers/otlp-receiver.js';

/**
 * Issue 14 acceptance, end to end: the compiled app on the devhost exporting OTLP/JSON to a
 * loopback receiver. One run started through the runs API (with a caller's `traceparent`) that
 * calls a tool and a sub-agent and continues as new after every turn must give ONE trace: the
 * HTTP server span, the run's `invoke_agent` span under it, the sub-agent's `invoke_agent` under
 * that, `chat` spans with token usage under each run, the `execute_tool` span; every span with
 * `tenant.id`, no span twice (the orchestrators replay at every step), and no prompt or output
 * text anywhere in what was exported (content capture is off by default). Build first.
 */

const CONTOSO_TID = '11111111-1111-4111-8111-111111111111';
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const PROMPT_MARKER = 'USER-PROMPT-MARKER-7781';
const OUTPUT_MARKER = 'MODEL-OUTPUT-MARKER-5512';

let issuer: DevTokenIssuer;
let receiver: OtlpReceiver;
let stack: AgentStack;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
  receiver = await startOtlpReceiver();
  stack = await startAgentStack({
    AUTH_AUTHORITY: issuer.url,
    AGENTS_DIR: join(repoRoot, 'tests', 'fixtures', 'telemetry-agents'),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'telemetry-e2e',
    TELEMETRY_EXPORT_INTERVAL_MS: '50',
    TELEMETRY_FILE: '',
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
  await issuer?.stop();
});

const str = (s: OtlpSpan, key: string) => attr(s.attributes, key);

describe('telemetry end to end (OTLP/JSON to a loopback receiver)', () => {
  let runId = '';
  let trace: OtlpSpan[] = [];

  it('gives one trace from the HTTP request to the last activity, across continue-as-new and a sub-agent', async () => {
    stack.model.script([
      {
        type: 'tool_calls',
        toolCalls: [
          { id: 'c1', name: 'current_time', arguments: {} },
          { id: 's1', name: 'doc-summarizer', arguments: { task: `Summarise ${PROMPT_MARKER}` } },
        ],
        usage: { promptTokens: 21, completionTokens: 9 },
      },
      { type: 'text', content: `child ${OUTPUT_MARKER}`, usage: { promptTokens: 13, completionTokens: 4 } },
      { type: 'text', content: `final ${OUTPUT_MARKER}`, usage: { promptTokens: 34, completionTokens: 6 } },
    ]);
    const token = await issuer.issue({ entraTenantId: CONTOSO_TID, audience: 'api://durable-agent-pipeline-local', roles: ['Runs.Write'] });
    const res = await fetch(`${stack.devhost.url}/api/tenants/contoso/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ agent: 'support-triage', input: `Please help: ${PROMPT_MARKER}` }),
    });
    expect(res.status).toBe(202);
    runId = String(((await res.json()) as { id: string }).id);
    // The caller finds its trace: same trace id, the door's span id.
    const traceresponse = res.headers.get('traceresponse') ?? '';
    expect(traceresponse).toMatch(new RegExp(`^00-${CALLER_TRACE}-[0-9a-f]{16}-01$`));

    const location = res.headers.get('location') ?? '';
    await eventually(
      'the run to complete',
      async () => {
        const r = await fetch(location, { headers: { authorization: `Bearer ${token}` } });
        const body = (await r.json()) as { status: string; output?: { answer?: string } };
        return body.status === 'Completed' ? body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 25 },
    );

    const childRunId = `${runId}--s1`;
    trace = await eventually(
      'both invoke_agent spans to be exported',
      async () => {
        const spans = receiver.spans().filter((s) => s.traceId === CALLER_TRACE);
        const runs = spans.filter((s) => s.name.startsWith('invoke_agent '));
        return runs.length >= 2 ? spans : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 25 },
    );

    const http = trace.find((s) => s.name === 'POST /api/tenants/{tenantId}/runs');
    expect(http, 'HTTP server span').toBeDefined();
    expect(http?.kind).toBe(2); // SERVER
    expect(http?.parentSpanId).toBe(CALLER_SPAN);
    expect(traceresponse).toBe(`00-${CALLER_TRACE}-${http?.spanId}-01`);

    const parentRun = trace.find((s) => s.name === 'invoke_agent support-triage');
    const childRun = trace.find((s) => s.name === 'invoke_agent doc-summarizer');
    expect(parentRun?.spanId).toBe(runSpanIdOf(runId));
    expect(parentRun?.parentSpanId).toBe(http?.spanId);
    expect(childRun?.spanId).toBe(runSpanIdOf(childRunId));
    expect(childRun?.parentSpanId).toBe(parentRun?.spanId);
    expect(parentRun && str(parentRun, 'gen_ai.conversation.id')).toBe(runId);
    expect(parentRun && str(parentRun, 'gen_ai.agent.version')).toBe('3');
    expect(parentRun && str(parentRun, 'app.door')).toBe('runs-api');
    expect(parentRun && str(parentRun, 'app.agent.content_hash')).toMatch(/^[0-9a-f]{16,}/);
    expect(childRun && str(childRun, 'app.door')).toBe('sub-agent');

    // Model calls: two for the parent (one per generation: it continued as new after turn 1), one for the child.
    const chats = trace.filter((s) => s.name.startsWith('chat '));
    expect(chats.filter((s) => s.parentSpanId === parentRun?.spanId)).toHaveLength(2);
    expect(chats.filter((s) => s.parentSpanId === childRun?.spanId)).toHaveLength(1);
    for (const chat of chats) {
      expect(chat.kind).toBe(3); // CLIENT
      expect(str(chat, 'gen_ai.operation.name')).toBe('chat');
      expect(str(chat, 'gen_ai.provider.name')).toBe('openai');
      expect(str(chat, 'gen_ai.request.model')).toBe('gpt-4o-mini');
      expect(str(chat, 'app.model.deployment')).toBe('gpt-4o-mini');
      expect(str(chat, 'app.model.fallback')).toBe(false);
      expect(typeof str(chat, 'gen_ai.usage.input_tokens')).toBe('number');
      expect(typeof str(chat, 'gen_ai.usage.output_tokens')).toBe('number');
    }
    expect(chats.map((c) => str(c, 'gen_ai.usage.input_tokens')).sort()).toEqual([13, 21, 34]);

    const tool = trace.find((s) => s.name === 'execute_tool current_time');
    expect(tool?.parentSpanId).toBe(parentRun?.spanId);
    expect(tool && str(tool, 'gen_ai.tool.call.id')).toBe('c1');

    // Every span carries the tenant; every parent is in the trace (or is the caller's span).
    const ids = new Set(trace.map((s) => s.spanId));
    for (const span of trace) {
      expect(str(span, 'tenant.id'), span.name).toBe('contoso');
      expect(span.parentSpanId === CALLER_SPAN || ids.has(span.parentSpanId ?? ''), `${span.name} has its parent in the trace`).toBe(true);
    }
  }, 60_000);

  it('exports no span twice although the orchestrators replayed at every step', async () => {
    // Let any late export land, then count again.
    await eventually('metrics to arrive', async () => (receiver.metrics().some((m) => m.name === 'gen_ai.client.token.usage') ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 25,
    });
    const spans = receiver.spans().filter((s) => s.traceId === CALLER_TRACE);
    const ids = spans.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(spans.filter((s) => s.name.startsWith('invoke_agent '))).toHaveLength(2);
    expect(spans.filter((s) => s.name.startsWith('chat '))).toHaveLength(3);
    expect(spans.filter((s) => s.name.startsWith('execute_tool '))).toHaveLength(1);
    expect(trace.length).toBeGreaterThan(0);
  });

  it('exports no prompt, output or tool content by default, and metrics and logs carry the tenant', async () => {
    await eventually('log records to arrive', async () => (receiver.logs().length > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 25 });
    const everything = receiver.bodies.map((b) => b.text).join('\n');
    expect(everything).not.toContain(PROMPT_MARKER);
    expect(everything).not.toContain(OUTPUT_MARKER);
    expect(everything).not.toContain('SYSTEM-PROMPT-MARKER');
    expect(everything).not.toContain('gen_ai.input.messages');
    expect(everything).not.toContain('gen_ai.tool.call.arguments');
    expect(everything.toLowerCase()).not.toContain('bearer ');

    const metrics = receiver.metrics();
    const tokenUsage = metrics.filter((m) => m.name === 'gen_ai.client.token.usage').flatMap((m) => m.dataPoints);
    expect(tokenUsage.map((p) => attr(p.attributes, 'gen_ai.token.type'))).toEqual(expect.arrayContaining(['input', 'output']));
    for (const name of ['gen_ai.client.token.usage', 'gen_ai.client.operation.duration', 'agent.runs.started', 'agent.runs.completed', 'agent.tool.calls', 'agent.run.duration']) {
      const points = metrics.filter((m) => m.name === name).flatMap((m) => m.dataPoints);
      expect(points.length, name).toBeGreaterThan(0);
      for (const p of points) expect(attr(p.attributes, 'tenant.id'), name).toBe('contoso');
    }
    const started = metrics.filter((m) => m.name === 'agent.runs.started').flatMap((m) => m.dataPoints);
    expect(started.map((p) => attr(p.attributes, 'app.door'))).toEqual(expect.arrayContaining(['runs-api', 'sub-agent']));

    const modelLog = await eventually('the model-call log record', async () => receiver.logs().find((l) => l.traceId === CALLER_TRACE && l.body?.stringValue === 'model call'), {
      timeoutMs: 10_000,
      intervalMs: 25,
    }).catch(() => {
      throw new Error(`no model-call log in the trace; logs: ${JSON.stringify(receiver.logs().slice(0, 3))}`);
    });
    expect(modelLog?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(attr(modelLog?.attributes, 'tenant.id')).toBe('contoso');
    expect(attr(modelLog?.attributes, 'gen_ai.conversation.id')).toBe(runId);
  });
});
