import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { Activities, Orchestrators } from '../shared/agent-runtime/activity-catalog.js';
import { createBotActivities } from '../shared/bot/bot-activities.js';
import { createBotMessagesHandler } from '../shared/bot/bot-messages-handler.js';
import { deps } from '../shared/composition-root.js';
import { registerActivity, registerOrchestrator } from '../shared/durable-registration.js';
import { botConversationRunOrchestrator } from '../shared/orchestrators/bot-conversation-run.js';

const activities = createBotActivities({ connector: deps.botConnector, blobs: deps.runtime.blobs });

// Authentication is the Bot Framework token the handler checks, hence 'anonymous' here.
app.http('botMessages', {
  methods: ['POST'],
  authLevel: 'anonymous',
  route: 'messages',
  extraInputs: [df.input.durableClient()],
  handler: createBotMessagesHandler(deps, (context) => df.getClient(context)),
});
registerOrchestrator(Orchestrators.botConversationRun, botConversationRunOrchestrator);
registerActivity(Activities.botSendTyping, activities.sendTyping);
registerActivity(Activities.botPostReply, activities.postReply);
