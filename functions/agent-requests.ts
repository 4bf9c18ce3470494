import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../shared/composition-root.js';
import { createAgentRequestHandler } from '../shared/queue/agent-request.js';

app.serviceBusQueue('agentRequests', {
  connection: 'ServiceBusConnection',
  queueName: deps.config.agentRequestsQueue,
  extraInputs: [df.input.durableClient()],
  handler: createAgentRequestHandler(deps, (context) => df.getClient(context)),
});
