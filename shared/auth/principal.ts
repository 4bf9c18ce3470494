import type { Initiator } from '../agent-runtime/run-types.js';
import type { Tenant } from '../tenancy/tenant.js';
import { AccessDeniedError, bearerChallenge } from '../http/http-errors.js';

/**
 * Who is calling, as proven by a validated Entra ID access token, and what they may do.
 * Authorization decisions (tenant mapping, permissions) are made here, in one place.
 */

/** Permissions of the runs API: app roles (app-only tokens) or delegated scopes of the same names. */
export const RunPermission = {
  read: 'Runs.Read',
  write: 'Runs.Write',
  approve: 'Runs.Approve',
} as const;
export type RunPermission = (typeof RunPermission)[keyof typeof RunPermission];

/** Reading a tenant's audit trail (`GET /tenants/{tenantId}/audit`): an app role or delegated scope. */
export const AuditPermission = {
  read: 'Audit.Read',
} as const;
export type AuditPermission = (typeof AuditPermission)[keyof typeof AuditPermission];

/** Reading a tenant's usage ledger (`GET /tenants/{tenantId}/usage`): an app role or delegated scope, not included in `Runs.*`. */
export const UsagePermission = {
  read: 'Usage.Read',
} as const;
export type UsagePermission = (typeof UsagePermission)[keyof typeof UsagePermission];

/** Every permission the app checks. */
export type Permission = RunPermission | AuditPermission | UsagePermission;

export interface Principal {
  /** The token's `tid`: the Entra directory it was issued in (lower case). */
  entraTenantId: string;
  /** `app`: client-credentials (app-only) token; `delegated`: an app acting for a signed-in user. */
  kind: 'app' | 'delegated';
  /** `oid`: the user (delegated) or the service principal (app-only). */
  objectId: string | undefined;
  /** `azp` (v2) or `appid` (v1): the client application. */
  clientAppId: string | undefined;
  /** `sub`, kept for audit when `oid` is absent. */
  subject: string;
  roles: readonly string[];
  scopes: readonly string[];
}

/** True when the token grants `permission` as an app role or a delegated scope. */
export function hasPermission(principal: Principal, permission: Permission): boolean {
  return principal.roles.includes(permission) || principal.scopes.includes(permission);
}

/** Throws 403 `permission_missing` (with an `insufficient_scope` challenge) unless one of `permissions` is granted. */
export function requirePermission(principal: Principal, ...permissions: Permission[]): void {
  if (permissions.some((p) => hasPermission(principal, p))) return;
  const needed = permissions.join(' or ');
  throw new AccessDeniedError('permission_missing', `This operation needs the ${needed} app role or scope.`, {
    'www-authenticate': bearerChallenge('insufficient_scope', `requires ${needed}`),
  });
}

/**
 * Throws 403 `tenant_mismatch` unless the token's directory is mapped to `tenant`: a valid
 * token from Contoso's directory must never act on Fabrikam's path.
 */
export function requireTenantMatch(principal: Principal, tenant: Tenant): void {
  if (!tenant.entraTenantIds.includes(principal.entraTenantId)) throw tenantMismatchError(tenant.id);
}

/**
 * The 403 for a tenant the token may not act on. Also answered for a tenant that does not exist,
 * word for word, so a valid token cannot probe which tenants exist.
 */
export function tenantMismatchError(tenantId: string): AccessDeniedError {
  return new AccessDeniedError('tenant_mismatch', `The token's directory is not mapped to tenant "${tenantId.slice(0, 64)}".`);
}

/**
 * The run's initiator. An app-only call is the app; a delegated call is the client app acting
 * on behalf of the user (`onBehalfOf` = the user's object id), which the orchestrator carries
 * into sub-agents so every step stays attributable to the person.
 */
export function initiatorOf(principal: Principal): Initiator {
  const appId = principal.clientAppId ?? principal.objectId ?? principal.subject;
  if (principal.kind === 'app') return { kind: 'app', id: appId };
  return { kind: 'app', id: appId, onBehalfOf: principal.objectId ?? principal.subject };
}

/** What {@link actorOf} names: a signed-in user (delegated token) or an application (app-only token). */
export function actorKindOf(principal: Principal): 'user' | 'app' {
  return principal.kind === 'delegated' ? 'user' : 'app';
}

/** The identity recorded as having made a decision (e.g. an approval): the user when there is one. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'delegated' ? (principal.objectId ?? principal.subject) : (principal.clientAppId ?? principal.objectId ?? principal.subject);
}
