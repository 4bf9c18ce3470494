import { app } from '@azure/functions';
import { createHealthHandler } from '../shared/http/health.js';
import { deps } from '../shared/composition-root.js';

app.http('health', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'health',
  handler: createHealthHandler(deps),
});
