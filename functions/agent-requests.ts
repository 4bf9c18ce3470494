import { createRequire } from 'node:module';
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { Activities, Orchestrators } from '../shared/agent-runtime/activity-catalog.js';
import { deps } from '../shared/composition-root.js';
import { registerActivity, registerOrchestrator } from '../shared/durable-registration.js';
import { queuedAgentRunOrchestrator } from '../shared/orchestrators/queued-agent-run.js';
import { createAgentRequestHandler } from '../shared/queue/agent-request.js';
import { createPublishRunReplyActivity } from '../shared/queue/reply-activity.js';

// Registers the Service Bus message factory that SDK-type triggers (sdkBinding) need, before the
// first message arrives. Loaded with require, not `import`: the preview package's types point at
// its TypeScript sources, which do not compile under this project's strict settings.
createRequire(import.meta.url)('@azure/functions-extensions-servicebus');

// sdkBinding + autoCompleteMessages false: the handler settles each message itself, so an
// invalid one is dead-lettered at once with a reason instead of burning every delivery.
app.serviceBusQueue('agentRequests', {
  connection: 'ServiceBusConnection',
  queueName: deps.config.agentRequestsQueue,
  sdkBinding: true,
  autoCompleteMessages: false,
  extraInputs: [df.input.durableClient()],
  handler: createAgentRequestHandler(deps, (context) => df.getClient(context)),
});

registerOrchestrator(Orchestrators.queuedAgentRun, queuedAgentRunOrchestrator);
registerActivity(Activities.publishRunReply, createPublishRunReplyActivity(deps.replies));
