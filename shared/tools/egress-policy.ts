import { BlockList, isIP } from 'node:net';

/**
 * Egress policy for tools that reach the network (`http_request`): which host and port a run may
 * reach, and which addresses it may connect to. Pure functions, no I/O; the resolver and the
 * connection live in `egress-request.ts`.
 *
 * Entries are `host[:port]`, `*.suffix[:port]` or `[ipv6][:port]`:
 * - `api.contoso.com` matches that host only; `*.contoso.com` matches any name below
 *   `contoso.com` (not `contoso.com` itself, never an IP literal).
 * - An entry without a port means port 443. The one exception: in local development
 *   (`APP_ENVIRONMENT=local`) a loopback entry (`127.0.0.1`, `localhost`, `[::1]`) without a port
 *   matches any port, because test and devhost upstreams listen on ephemeral ports.
 */

/** Hosts that name the loopback interface; only these may reach loopback, and only locally. */
const LOOPBACK_ENTRY_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HOST_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const DEFAULT_PORT = 443;

/** How the policy reads entries: local development relaxes only what is stated above. */
export interface EgressMode {
  /** True only when `APP_ENVIRONMENT=local`. */
  local: boolean;
}

/** A parsed allow-list entry. `port: 'any'` only for a portless loopback entry in local mode. */
export interface EgressEntry {
  /** Lower-case host name, IPv4 literal, `[ipv6]` literal, or `*.suffix`. */
  host: string;
  port: number | 'any';
}

/** True when `host` (as `URL.hostname` spells it: IPv6 in brackets) is an IP literal. */
function isIpLiteral(host: string): boolean {
  return isIP(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host) !== 0;
}

/** Parses one entry; undefined when it is not a valid `host[:port]` entry. */
export function parseEgressEntry(entry: string, mode: EgressMode): EgressEntry | undefined {
  const text = entry.trim().toLowerCase();
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host.slice(1, -1)) !== 6) return undefined;
    // Canonical spelling, as URL.hostname gives it, so `[0:0::1]` matches `[::1]`.
    host = new URL(`http://${host}/`).hostname;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (!HOST_NAME.test(host)) return undefined;
    if (host.startsWith('*.') && isIpLiteral(host.slice(2))) return undefined;
  }
  if (portText !== undefined) {
    if (!/^[1-9]\d{0,4}$/.test(portText)) return undefined;
    const port = Number(portText);
    return port <= 65_535 ? { host, port } : undefined;
  }
  return { host, port: mode.local && LOOPBACK_ENTRY_HOSTS.has(host) ? 'any' : DEFAULT_PORT };
}

/** The entry as text again: portless only when it matches any port, so it parses back the same. */
export function formatEgressEntry(entry: EgressEntry): string {
  return entry.port === 'any' ? entry.host : `${entry.host}:${entry.port}`;
}

/** The entries of `list` that do not parse (for startup validation of the deployment policy). */
export function invalidEgressEntries(list: readonly string[], mode: EgressMode): string[] {
  return list.filter((e) => parseEgressEntry(e, mode) === undefined);
}

/** `URL.hostname` lower-cased and without a trailing dot (`api.contoso.com.` is the same name). */
export function normalizeHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return !isIpLiteral(host) && host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/**
 * The first entry of `allowList` that allows `host` (a `URL.hostname`) on `port`, or undefined.
 * Entries that do not parse match nothing.
 */
export function findEgressEntry(host: string, port: number, allowList: readonly string[], mode: EgressMode): EgressEntry | undefined {
  const h = normalizeHost(host);
  for (const text of allowList) {
    const entry = parseEgressEntry(text, mode);
    if (entry && hostMatches(entry.host, h) && (entry.port === 'any' || entry.port === port)) return entry;
  }
  return undefined;
}

/** True when every name `inner` matches is matched by `outer` too. */
function hostCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  // `*.x` covers names below x, and `*.y` when y is below x.
  return outer.startsWith('*.') && hostMatches(outer, inner.startsWith('*.') ? inner.slice(2) : inner);
}

/** What both entries allow, or undefined when they share nothing. */
function intersectEntries(a: EgressEntry, b: EgressEntry): EgressEntry | undefined {
  const port = a.port === 'any' ? b.port : b.port === 'any' || b.port === a.port ? a.port : undefined;
  const host = hostCovers(b.host, a.host) ? a.host : hostCovers(a.host, b.host) ? b.host : undefined;
  return port === undefined || host === undefined ? undefined : { host, port };
}

/**
 * The effective allow-list of a run: what the tenant's own `egressAllowList` asks for, limited to
 * what the deployment-wide policy (`TOOL_EGRESS_ALLOW_LIST`) allows. A tenant entry the policy
 * does not cover is dropped; a policy entry no tenant asks for grants nothing. Invalid entries on
 * either side grant nothing. The result is in canonical form (`host:port`).
 */
export function effectiveEgressAllowList(tenantList: readonly string[], deploymentList: readonly string[], mode: EgressMode): string[] {
  const deployment = deploymentList.map((e) => parseEgressEntry(e, mode)).filter((e) => e !== undefined);
  const out = new Set<string>();
  for (const text of tenantList) {
    const wanted = parseEgressEntry(text, mode);
    if (!wanted) continue;
    for (const allowed of deployment) {
      const both = intersectEntries(wanted, allowed);
      if (both) out.add(formatEgressEntry(both));
    }
  }
  return [...out];
}

/** Why an address may not be connected to; `public` when it may. */
export type AddressClass = 'public' | 'loopback' | 'unspecified' | 'private' | 'link-local' | 'shared (CGNAT)' | 'multicast' | 'cloud metadata' | 'reserved' | 'invalid';

type Range = readonly [network: string, prefix: number];
function blockList(v4: readonly Range[], v6: readonly Range[]): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
}

/**
 * Ranges by class, checked in this order (metadata before link-local, for a clearer reason).
 * IPv4 rules also match their IPv4-mapped IPv6 forms (`::ffff:a.b.c.d`, `::ffff:7f00:1`): that is
 * how `node:net` BlockList checks an IPv6 address against an IPv4 subnet.
 */
const RANGES: readonly (readonly [AddressClass, BlockList])[] = [
  [
    'cloud metadata',
    blockList(
      // Instance metadata (Azure IMDS, AWS, GCP), AWS ECS task metadata, Azure wire server, Alibaba.
      [
        ['169.254.169.254', 32],
        ['169.254.170.2', 32],
        ['168.63.129.16', 32],
        ['100.100.100.200', 32],
      ],
      // AWS IMDS over IPv6.
      [['fd00:ec2::254', 128]],
    ),
  ],
  ['loopback', blockList([['127.0.0.0', 8]], [['::1', 128]])],
  ['unspecified', blockList([['0.0.0.0', 8]], [['::', 128]])],
  [
    'private',
    blockList(
      [
        ['10.0.0.0', 8],
        ['172.16.0.0', 12],
        ['192.168.0.0', 16],
      ],
      [
        ['fc00::', 7],
        ['fec0::', 10],
      ],
    ),
  ],
  ['link-local', blockList([['169.254.0.0', 16]], [['fe80::', 10]])],
  ['shared (CGNAT)', blockList([['100.64.0.0', 10]], [])],
  ['multicast', blockList([['224.0.0.0', 4]], [['ff00::', 8]])],
  [
    'reserved',
    blockList(
      [
        ['192.0.0.0', 24], // IETF protocol assignments
        ['192.0.2.0', 24], // documentation
        ['192.88.99.0', 24], // 6to4 relay anycast
        ['198.18.0.0', 15], // benchmarking
        ['198.51.100.0', 24], // documentation
        ['203.0.113.0', 24], // documentation
        ['240.0.0.0', 4], // reserved, includes 255.255.255.255 (broadcast)
      ],
      [
        ['::', 96], // IPv4-compatible (deprecated): ::a.b.c.d
        ['64:ff9b::', 96], // NAT64 well-known prefix: embeds an IPv4 address we would not check
        ['64:ff9b:1::', 48], // local-use NAT64
        ['100::', 64], // discard
        ['2001::', 23], // IETF protocol assignments, includes Teredo 2001::/32
        ['2001:db8::', 32], // documentation
        ['2002::', 16], // 6to4: embeds an IPv4 address
        ['3fff::', 20], // documentation
      ],
    ),
  ],
];

/** The class of an IP address (`node:net` syntax, no brackets). */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 0) return 'invalid';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [cls, list] of RANGES) if (list.check(address, type)) return cls;
  return 'public';
}

/**
 * Why `address` (one of the addresses `host` resolved to) may not be connected to, or undefined
 * when it may. Only public addresses are allowed, except that in local mode a loopback address
 * is allowed when the URL's host is literally `127.0.0.1`, `localhost` or `[::1]`.
 */
export function addressRefusal(host: string, address: string, mode: EgressMode): AddressClass | undefined {
  const cls = classifyAddress(address);
  if (cls === 'public') return undefined;
  // Loopback proper (127.0.0.0/8, ::1), not a mapped form such as ::ffff:127.0.0.1.
  const plainLoopback = isIP(address) === 4 || address === '::1';
  if (cls === 'loopback' && plainLoopback && mode.local && LOOPBACK_ENTRY_HOSTS.has(normalizeHost(host))) return undefined;
  return cls;
}
