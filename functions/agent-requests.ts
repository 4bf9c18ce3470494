import { app } from '@azure/functions';
import { deps } from '../shared/composition-root.js';
import { createAgentRequestHandler } from '../shared/queue/agent-request.js';

app.serviceBusQueue('agentRequests', {
  connection: 'ServiceBusConnection',
  queueName: deps.config.agentRequestsQueue,
  handler: createAgentRequestHandler(deps),
});
