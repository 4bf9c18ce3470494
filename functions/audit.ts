import { app } from '@azure/functions';
import { deps } from '../shared/composition-root.js';
import { createAuditApiHandler } from '../shared/http/audit-api.js';

// Authentication is the Entra ID bearer token the handler checks (app role or scope Audit.Read).
app.http('readAudit', { methods: ['GET'], authLevel: 'anonymous', route: 'tenants/{tenantId}/audit', handler: createAuditApiHandler(deps) });
