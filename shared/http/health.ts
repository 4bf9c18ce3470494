import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Deps } from '../composition-root.js';
import { correlationIdFrom } from './correlation.js';

/**
 * `GET /api/health`: anonymous liveness. Reports only what is safe to show anyone
 * (status, version, environment, uptime); never configuration or dependencies' details.
 */
export function createHealthHandler(deps: Pick<Deps, 'config' | 'now' | 'startedAtMs' | 'version'>) {
  return async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => ({
    status: 200,
    headers: { 'x-correlation-id': correlationIdFrom(request.headers), 'cache-control': 'no-store' },
    jsonBody: {
      status: 'ok',
      version: deps.version,
      environment: deps.config.environment,
      uptimeMs: Math.max(0, deps.now() - deps.startedAtMs),
    },
  });
}
