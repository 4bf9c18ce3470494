import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../shared/composition-root.js';
import { createWebhookHandler } from '../shared/webhooks/webhook-handler.js';

// Authentication is the HMAC signature checked by the handler, hence 'anonymous' here.
app.http('webhook', {
  methods: ['POST'],
  authLevel: 'anonymous',
  route: 'webhooks/{tenantId}/{source}',
  extraInputs: [df.input.durableClient()],
  handler: createWebhookHandler(deps, (context) => df.getClient(context)),
});
