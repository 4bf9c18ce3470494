import { app, type HttpFunctionOptions } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../shared/composition-root.js';
import { createRunsApiHandlers } from '../shared/http/runs-api.js';

const runs = createRunsApiHandlers(deps, (context) => df.getClient(context));
// Authentication is the Entra ID bearer token the handlers check, hence 'anonymous' here. Each
// function gets its own durable client binding object (bindings are named per registration).
const common = (): Pick<HttpFunctionOptions, 'authLevel' | 'extraInputs'> => ({ authLevel: 'anonymous', extraInputs: [df.input.durableClient()] });

app.http('startRun', { ...common(), methods: ['POST'], route: 'tenants/{tenantId}/runs', handler: runs.startRun });
app.http('listRuns', { ...common(), methods: ['GET'], route: 'tenants/{tenantId}/runs', handler: runs.listRuns });
app.http('getRun', { ...common(), methods: ['GET'], route: 'tenants/{tenantId}/runs/{runId}', handler: runs.getRun });
app.http('approveRun', { ...common(), methods: ['POST'], route: 'tenants/{tenantId}/runs/{runId}/approvals', handler: runs.approve });
app.http('cancelRun', { ...common(), methods: ['POST'], route: 'tenants/{tenantId}/runs/{runId}/cancel', handler: runs.cancel });
