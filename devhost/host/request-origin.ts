import type { IncomingMessage } from 'node:http';

/**
 * Who may talk to the devhost at all, decided before any route runs.
 *
 * - **Host.** Only requests addressed to the devhost's own loopback authority are served:
 *   `127.0.0.1:<port>`, `localhost:<port>` or `[::1]:<port>` (the port may be left out only when
 *   it is 80). Anything else — a DNS-rebinding page whose name now resolves to 127.0.0.1, a
 *   proxy forwarding a foreign name — gets 421 Misdirected Request: this server does not serve
 *   that authority (RFC 9110 §15.5.20). On Azure such a request never reaches the app: the
 *   front end answers for host names bound to the site only.
 * - **Cross-site.** The durable and admin APIs (`/runtime/…`, `/admin/…`) refuse, with 403, a
 *   state-changing request that a browser marks as coming from another site or origin
 *   (`Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin` that is not the devhost's
 *   own). A form post from a web page therefore cannot raise an event, start or purge through
 *   the developer's browser even if it learned a key. App routes keep accepting cross-origin
 *   requests, as on Azure (CORS is the app's business there).
 */

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The `Host` values the devhost on `port` answers to. */
export function ownAuthorities(port: number): Set<string> {
  const names = LOOPBACK_NAMES.flatMap((name) => (port === 80 ? [name, `${name}:80`] : [`${name}:${port}`]));
  return new Set(names);
}

/** True when the request's `Host` is one of the devhost's own loopback authorities. */
export function isOwnHost(req: IncomingMessage, own: ReadonlySet<string>): boolean {
  const host = req.headers.host;
  return typeof host === 'string' && own.has(host.trim().toLowerCase());
}

/** Paths of the host's own APIs (reserved by the Functions host; never app routes). */
export function isHostApiPath(pathname: string): boolean {
  const lower = pathname.toLowerCase();
  return lower.startsWith('/admin/') || lower === '/admin' || lower.startsWith('/runtime/');
}

/**
 * True when a browser says this state-changing request comes from another site or origin.
 * Requests from non-browser clients (curl, the SDK's axios, Node's fetch) carry neither header
 * and pass; a browser's same-origin request or direct navigation passes too.
 */
export function isCrossSiteWrite(req: IncomingMessage, own: ReadonlySet<string>): boolean {
  if (SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) return false;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return true; // includes `Origin: null` (sandboxed frames, some redirects)
  }
  return parsed.protocol !== 'http:' || !own.has(parsed.host.toLowerCase());
}
