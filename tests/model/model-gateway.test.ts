import { describe, expect, it } from 'vitest';
import { isModelCallError, modelCallErrorCodeOf, type ChatRequest, type ModelClient } from '../../shared/model/model-client.js';
import { createModelGateway, type DeploymentRef, type ModelGatewayOptions } from '../../shared/model/model-gateway.js';
import { createScriptedModelClient, errorTurn, textTurn, type ScriptedModelClient, type ScriptedTurn } from '../../shared/model/scripted-model-client.js';
import { createFakeClock, type FakeClock } from './fake-clock.js';
import { rejection } from '../helpers/rejection.js';

const request: Omit<ChatRequest, 'deployment'> = {
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'hello' },
  ],
  temperature: 0.2,
};

const policy = (...names: string[]) => ({ deployments: names.map((name) => ({ name })), timeoutMs: 30_000 });

/** One scripted client per deployment name; a deployment with no script fails loudly if called. */
function setup(
  scripts: Record<string, ScriptedTurn[]>,
  overrides: Partial<Omit<ModelGatewayOptions, 'clients' | 'clock'>> = {},
): { gateway: ReturnType<typeof createModelGateway>; clock: FakeClock; clients: Record<string, ScriptedModelClient> } {
  const clock = createFakeClock();
  const clients: Record<string, ScriptedModelClient> = {};
  for (const [name, turns] of Object.entries(scripts)) clients[name] = createScriptedModelClient(turns);
  const gateway = createModelGateway({
    clients: (d: DeploymentRef): ModelClient => {
      const client = clients[d.name];
      if (!client) throw new Error(`no client for ${d.name}`);
      return client;
    },
    clock,
    circuit: { failureThreshold: 3, cooldownMs: 30_000 },
    maxAttemptsPerDeployment: 2,
    retryAfterCapMs: 2_000,
    ...overrides,
  });
  return { gateway, clock, clients };
}

describe('model gateway', () => {
  it('answers from the first deployment and records usage', async () => {
    const { gateway, clients } = setup({ primary: [textTurn('hi', { usage: { inputTokens: 12, outputTokens: 3 }, model: 'gpt-4o-mini-2024-07-18' })] });
    const { response, usage } = await gateway.call(request, policy('primary', 'secondary'));
    expect(response.message.content).toBe('hi');
    expect(usage).toEqual({
      deployment: 'primary',
      model: 'gpt-4o-mini-2024-07-18',
      inputTokens: 12,
      outputTokens: 3,
      latencyMs: 0,
      attempts: [{ deployment: 'primary', outcome: 'ok', latencyMs: 0 }],
      fallbackTaken: false,
    });
    expect(clients['primary']?.calls[0]).toMatchObject({ request: { ...request, deployment: 'primary' }, timeoutMs: 30_000 });
  });

  it('falls back to the second deployment after a 429 without Retry-After', async () => {
    const { gateway, clock, clients } = setup({
      primary: [errorTurn('rate_limited', { endpointStatus: 429 })],
      secondary: [textTurn('from secondary')],
    });
    const { response, usage } = await gateway.call(request, policy('primary', 'secondary'));
    expect(response.message.content).toBe('from secondary');
    expect(usage.deployment).toBe('secondary');
    expect(usage.fallbackTaken).toBe(true);
    expect(usage.attempts.map((a) => [a.deployment, a.outcome, a.status])).toEqual([
      ['primary', 'rate_limited', 429],
      ['secondary', 'ok', undefined],
    ]);
    expect(clock.sleeps).toEqual([]);
    expect(clients['secondary']?.calls[0]?.request.deployment).toBe('secondary');
  });

  it('waits a short Retry-After on the same deployment, then succeeds there', async () => {
    const { gateway, clock } = setup({
      primary: [errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 1_500 }), textTurn('after the wait')],
    });
    const { response, usage } = await gateway.call(request, policy('primary', 'secondary'));
    expect(response.message.content).toBe('after the wait');
    expect(clock.sleeps).toEqual([1_500]);
    expect(usage.fallbackTaken).toBe(false);
    expect(usage.latencyMs).toBe(1_500);
    expect(usage.attempts.map((a) => a.outcome)).toEqual(['rate_limited', 'ok']);
    expect(usage.attempts[0]?.retryAfterMs).toBe(1_500);
  });

  it('moves on instead of waiting when Retry-After exceeds the cap', async () => {
    const { gateway, clock } = setup({
      primary: [errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 60_000 })],
      secondary: [textTurn('fallback')],
    });
    const { usage } = await gateway.call(request, policy('primary', 'secondary'));
    expect(clock.sleeps).toEqual([]);
    expect(usage.deployment).toBe('secondary');
  });

  it('opens the circuit after N consecutive failures, skips the deployment, and half-opens after the cool-down', async () => {
    const { gateway, clock, clients } = setup(
      {
        primary: [errorTurn('server_error', { endpointStatus: 500 }), errorTurn('server_error', { endpointStatus: 503 }), textTurn('primary is back')],
        secondary: [textTurn('s1'), textTurn('s2'), textTurn('s3')],
      },
      { circuit: { failureThreshold: 2, cooldownMs: 10_000 } },
    );
    const both = policy('primary', 'secondary');

    expect((await gateway.call(request, both)).usage.deployment).toBe('secondary');
    expect(gateway.circuits()).toEqual([
      { key: 'default/primary', state: 'closed', consecutiveFailures: 1 },
      { key: 'default/secondary', state: 'closed', consecutiveFailures: 0 },
    ]);
    expect((await gateway.call(request, both)).usage.deployment).toBe('secondary');
    expect(gateway.circuits()[0]).toMatchObject({ state: 'open', consecutiveFailures: 2, openUntilMs: clock.nowMs() + 10_000 });

    // Open: primary is not called at all.
    const skipped = await gateway.call(request, both);
    expect(skipped.usage.attempts.map((a) => [a.deployment, a.outcome])).toEqual([
      ['primary', 'circuit_open'],
      ['secondary', 'ok'],
    ]);
    expect(clients['primary']?.calls).toHaveLength(2);

    clock.advance(10_000);
    expect(gateway.circuits()[0]?.state).toBe('half_open');
    const trial = await gateway.call(request, both);
    expect(trial.response.message.content).toBe('primary is back');
    expect(trial.usage.fallbackTaken).toBe(false);
    expect(gateway.circuits()[0]).toEqual({ key: 'default/primary', state: 'closed', consecutiveFailures: 0 });
  });

  it('reopens at once when the half-open trial fails', async () => {
    const { gateway, clock, clients } = setup(
      {
        primary: [errorTurn('timeout'), errorTurn('timeout')],
        secondary: [textTurn('s1'), textTurn('s2'), textTurn('s3')],
      },
      { circuit: { failureThreshold: 1, cooldownMs: 5_000 } },
    );
    const both = policy('primary', 'secondary');
    await gateway.call(request, both);
    clock.advance(5_000);
    const trial = await gateway.call(request, both);
    expect(trial.usage.attempts.map((a) => a.outcome)).toEqual(['timeout', 'ok']);
    expect(gateway.circuits()[0]?.state).toBe('open');
    const next = await gateway.call(request, both);
    expect(next.usage.attempts[0]?.outcome).toBe('circuit_open');
    expect(clients['primary']?.calls).toHaveLength(2);
  });

  it('keys circuits by client and deployment name', async () => {
    const clock = createFakeClock();
    const east = createScriptedModelClient([errorTurn('server_error', { endpointStatus: 500 })]);
    const west = createScriptedModelClient([textTurn('west')]);
    const gateway = createModelGateway({
      clients: (d) => (d.client === 'west' ? west : east),
      clock,
      circuit: { failureThreshold: 1, cooldownMs: 1_000 },
      maxAttemptsPerDeployment: 1,
      retryAfterCapMs: 0,
    });
    const { usage } = await gateway.call(request, {
      deployments: [
        { name: 'gpt-4o', client: 'east' },
        { name: 'gpt-4o', client: 'west' },
      ],
      timeoutMs: 1_000,
    });
    expect(usage.fallbackTaken).toBe(true);
    expect(gateway.circuits().map((c) => [c.key, c.state])).toEqual([
      ['east/gpt-4o', 'open'],
      ['west/gpt-4o', 'closed'],
    ]);
  });

  it('fails at once on a 400, without fallback and without counting against the circuit', async () => {
    const { gateway, clients } = setup({ primary: [errorTurn('bad_request', { endpointStatus: 400, message: 'unknown parameter' })], secondary: [] });
    const error = await rejection(gateway.call(request, policy('primary', 'secondary')));
    expect(isModelCallError(error)).toBe(true);
    expect(error).toMatchObject({
      name: 'ModelCallError',
      code: 'bad_request',
      status: 400,
      retryable: false,
      deployment: 'primary',
      attempts: [{ deployment: 'primary', outcome: 'bad_request', status: 400, latencyMs: 0 }],
    });
    expect((error as Error).message).toBe('bad_request: unknown parameter');
    expect(clients['secondary']?.calls).toHaveLength(0);
    expect(gateway.circuits()[0]?.consecutiveFailures).toBe(0);
  });

  it.each([
    ['auth_failed', 401],
    ['content_filter', 400],
  ] as const)('fails at once on %s', async (code, endpointStatus) => {
    const { gateway, clients } = setup({ primary: [errorTurn(code, { endpointStatus })], secondary: [] });
    const error = await rejection(gateway.call(request, policy('primary', 'secondary')));
    expect(error).toMatchObject({ code, retryable: false });
    expect(clients['secondary']?.calls).toHaveLength(0);
  });

  it('throws all_deployments_failed, retryable, listing a bounded number of attempts', async () => {
    const { gateway, clock } = setup({
      primary: [errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 1_000 }), errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 1_000 })],
      secondary: [errorTurn('server_error', { endpointStatus: 503, retryAfterMs: 5_000 })],
      tertiary: [errorTurn('timeout')],
    });
    const error = await rejection(gateway.call(request, policy('primary', 'secondary', 'tertiary')));
    expect(error).toMatchObject({
      name: 'ModelCallError',
      code: 'all_deployments_failed',
      status: 503,
      retryable: true,
      deployment: 'primary,secondary,tertiary',
      retryAfterMs: 1_000,
    });
    const attempts = isModelCallError(error) ? (error.attempts ?? []) : [];
    // maxAttemptsPerDeployment = 2 bounds the primary; the secondary's wait is above the cap.
    expect(attempts.map((a) => [a.deployment, a.outcome, a.status])).toEqual([
      ['primary', 'rate_limited', 429],
      ['primary', 'rate_limited', 429],
      ['secondary', 'server_error', 503],
      ['tertiary', 'timeout', undefined],
    ]);
    expect(clock.sleeps).toEqual([1_000]);
    const message = (error as Error).message;
    expect(message).toMatch(/^all_deployments_failed: all 3 deployments failed after 4 attempts: primary rate_limited 429/);
    expect(message).toContain('tertiary timeout');
    // Across the Durable activity boundary only {name, message} survive; the code is still readable.
    const plain = { name: (error as Error).name, message };
    expect(modelCallErrorCodeOf(plain)).toBe('all_deployments_failed');
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: 'all_deployments_failed', attempts: expect.any(Array) });
  });

  it('reports the next circuit trial as retryAfterMs when every circuit is open', async () => {
    const { gateway, clock } = setup({ primary: [errorTurn('server_error', { endpointStatus: 500 })] }, { circuit: { failureThreshold: 1, cooldownMs: 20_000 } });
    await rejection(gateway.call(request, policy('primary')));
    clock.advance(5_000);
    const error = await rejection(gateway.call(request, policy('primary')));
    expect(error).toMatchObject({ code: 'all_deployments_failed', retryAfterMs: 15_000, attempts: [{ outcome: 'circuit_open', latencyMs: 0 }] });
  });

  it('treats a timeout as retryable and measures its latency', async () => {
    const clockRef: { clock?: FakeClock } = {};
    const { gateway, clock, clients } = setup({
      primary: [
        {
          respond: (req, options) => {
            clockRef.clock?.advance(options.timeoutMs);
            throw Object.assign(new Error(`timeout: no answer from ${req.deployment} in time`), {
              name: 'ModelCallError',
              code: 'timeout',
              status: 504,
              retryable: true,
              deployment: req.deployment,
            });
          },
        },
      ],
      secondary: [textTurn('in time')],
    });
    clockRef.clock = clock;
    const { usage } = await gateway.call(request, { deployments: [{ name: 'primary' }, { name: 'secondary' }], timeoutMs: 250 });
    expect(clients['primary']?.calls[0]?.timeoutMs).toBe(250);
    expect(usage.attempts).toEqual([
      { deployment: 'primary', outcome: 'timeout', latencyMs: 250 },
      { deployment: 'secondary', outcome: 'ok', latencyMs: 0 },
    ]);
    expect(usage.latencyMs).toBe(250);
    expect(usage.fallbackTaken).toBe(true);
  });

  it('stops with aborted when the caller aborts during a Retry-After wait', async () => {
    const { gateway, clock, clients } = setup({
      primary: [errorTurn('rate_limited', { endpointStatus: 429, retryAfterMs: 500 })],
      secondary: [],
    });
    const controller = new AbortController();
    clock.onSleep = () => controller.abort(new Error('run canceled'));
    const error = await rejection(gateway.call(request, policy('primary', 'secondary'), controller.signal));
    expect(error).toMatchObject({ code: 'aborted', retryable: false });
    expect(clients['secondary']?.calls).toHaveLength(0);
  });

  it('does not call anything when the signal is already aborted', async () => {
    const { gateway, clients } = setup({ primary: [] });
    const error = await rejection(gateway.call(request, policy('primary'), AbortSignal.abort()));
    expect(error).toMatchObject({ code: 'aborted' });
    expect(clients['primary']?.calls).toHaveLength(0);
  });

  it('lets a non-model error (a bug, or an exhausted script) through unchanged', async () => {
    const { gateway, clients } = setup({ primary: [], secondary: [textTurn('never')] });
    const error = await rejection(gateway.call(request, policy('primary', 'secondary')));
    expect(error).toMatchObject({ name: 'ScriptExhaustedError' });
    expect((error as Error).message).toBe('scripted model ran out of turns at call 1 (deployment primary, last user message "hello")');
    expect(clients['secondary']?.calls).toHaveLength(0);
  });

  it('rejects bad settings and empty policies', async () => {
    expect(() => setup({}, { maxAttemptsPerDeployment: 0 })).toThrow(/maxAttemptsPerDeployment/);
    expect(() => setup({}, { circuit: { failureThreshold: 0, cooldownMs: 1 } })).toThrow(/failureThreshold/);
    const { gateway } = setup({});
    await expect(gateway.call(request, { deployments: [], timeoutMs: 1 })).rejects.toThrow(/no deployments/);
  });
});
