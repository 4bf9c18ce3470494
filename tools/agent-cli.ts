#!/usr/bin/env node
/**
 * `npm run agent -- <agentId> "<message>" [--tenant <id>] [--json] [--reject]`
 *
 * Runs one agent run end to end on a throwaway local stack (in-memory devhost state, in-memory
 * Azurite, the offline model unless MODEL_PROVIDER/MODEL_BASE_URL point elsewhere): enqueues the
 * request on `agent-requests` as a real client would, follows the run's progress, answers
 * approvals (approve by default, `--reject` to deny), and prints the result in the runs API's
 * vocabulary (`status` Completed, Failed, ...; `endReason` completed, max_turns, ...; see
 * agent-run-result.ts). Exit code 0 only when the run completed with end reason `completed`.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { parseConfig } from '../shared/config.js';
import { signedQueueProperties } from '../shared/queue/queue-signature.js';
import { runIdFor } from '../shared/runs/admission.js';
import { localQueueSecret } from './local-queue-secret.js';
import type { RunProgress } from '../shared/agent-runtime/run-types.js';
import { agentRunResult, describeResult, succeeded } from './agent-run-result.js';
import { startLocalStack } from './local-stack.js';

const root = join(import.meta.dirname, '..', '..');
const USAGE = 'Usage: npm run agent -- <agentId> "<message>" [--tenant <id>] [--json] [--reject] [--timeout-ms <n>]';

/** Durable runtime statuses after which the instance changes no more. */
const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

interface InstanceStatus {
  runtimeStatus: string;
  customStatus?: RunProgress | null;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      tenant: { type: 'string', default: 'contoso' },
      json: { type: 'boolean', default: false },
      reject: { type: 'boolean', default: false },
      'timeout-ms': { type: 'string', default: '120000' },
    },
  });
  const [agentId, message] = positionals;
  if (!agentId || !message) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const say = (line: string): void => {
    if (!values.json) process.stdout.write(`${line}\n`);
  };
  const stack = await startLocalStack({
    appDir: root,
    port: 0,
    storage: 'memory',
    logLevel: 'error',
    azurite: { port: 0 },
    offlineModelPort: 0,
    devIssuerPort: 0,
    // Its services listen on free ports: a local.settings.json written for `npm start` (7072,
    // 7073, 10000) must not point the app at those; the environment still may.
    serviceSettingsFrom: 'environment',
    seed: { documentsDir: join(root, 'samples', 'documents'), tenants: [values.tenant] },
  });
  try {
    const { url, keys } = stack.devhost;
    const code = encodeURIComponent(keys.keys.masterKey);
    const idempotencyKey = `cli-${Date.now()}`;
    const runId = runIdFor(values.tenant, 'queue', idempotencyKey);
    // Signed with the tenant's queue secret, as a producer must in multi-tenant mode (docs/queue.md).
    const body = JSON.stringify({ tenantId: values.tenant, agent: agentId, input: message, idempotencyKey });
    const config = parseConfig(process.env);
    const secret = localQueueSecret(config, values.tenant);
    const applicationProperties = signedQueueProperties(secret, { tenantId: values.tenant, idempotencyKey, body }, Date.now());
    const send = await fetch(`${url}/admin/devhost/queues/agent-requests/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': keys.keys.masterKey },
      body: JSON.stringify({ body, contentType: 'application/json', applicationProperties }),
    });
    if (!send.ok) throw new Error(`could not enqueue the request: ${send.status} ${await send.text()}`);
    say(`run ${runId} queued for agent ${agentId} (tenant ${values.tenant})`);

    const deadline = Date.now() + Number(values['timeout-ms']);
    let lastProgress = '';
    const answered = new Set<string>();
    let status: InstanceStatus | undefined;
    while (Date.now() < deadline) {
      const res = await fetch(`${url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(runId)}?code=${code}`);
      if (res.status === 404) {
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      status = (await res.json()) as InstanceStatus;
      const progress = status.customStatus;
      if (progress && typeof progress === 'object') {
        const line = `turn ${progress.turn}: ${progress.phase}${progress.pendingTools.length ? ` [${progress.pendingTools.join(', ')}]` : ''} (tokens ${progress.usage.inputTokens}+${progress.usage.outputTokens})`;
        if (line !== lastProgress) say(line);
        lastProgress = line;
        for (const pending of progress.awaitingApproval ?? []) {
          if (answered.has(pending.toolCallId)) continue;
          answered.add(pending.toolCallId);
          const approved = !values.reject;
          say(`approval requested for ${pending.tool} (${pending.toolCallId}): ${approved ? 'approving' : 'rejecting'}`);
          await fetch(`${url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(runId)}/raiseEvent/approval?code=${code}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ toolCallId: pending.toolCallId, approved, decidedBy: 'agent-cli' }),
          });
        }
      }
      if (TERMINAL.has(status.runtimeStatus)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const finished = status !== undefined && TERMINAL.has(status.runtimeStatus);
    const result = agentRunResult(runId, values.tenant, status, !finished);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else for (const line of describeResult(result)) say(line);
    return succeeded(result) ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`agent run failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
