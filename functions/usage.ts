import { app } from '@azure/functions';
import { deps } from '../shared/composition-root.js';
import { createUsageApiHandler } from '../shared/http/usage-api.js';

// Authentication is the Entra ID bearer token the handler checks (app role or scope Usage.Read).
app.http('readUsage', { methods: ['GET'], authLevel: 'anonymous', route: 'tenants/{tenantId}/usage', handler: createUsageApiHandler(deps) });
