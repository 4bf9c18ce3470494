import { describe, expect, it } from 'vitest';
import { addressRefusal, classifyAddress, effectiveEgressAllowList, findEgressEntry, invalidEgressEntries, parseEgressEntry } from '../../shared/tools/egress-policy.js';

const local = { local: true };
const deployed = { local: false };

describe('egress entries', () => {
  it('parse host[:port], *.suffix[:port] and [ipv6][:port]; no port means 443', () => {
    expect(parseEgressEntry('API.Contoso.com', deployed)).toEqual({ host: 'api.contoso.com', port: 443 });
    expect(parseEgressEntry('api.contoso.com:8443', deployed)).toEqual({ host: 'api.contoso.com', port: 8443 });
    expect(parseEgressEntry('*.contoso.com:8443', deployed)).toEqual({ host: '*.contoso.com', port: 8443 });
    expect(parseEgressEntry('[0:0::1]:8080', deployed)).toEqual({ host: '[::1]', port: 8080 });
  });

  it('let a portless loopback entry match any port in local development only', () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      expect(parseEgressEntry(host, local)).toEqual({ host, port: 'any' });
      expect(parseEgressEntry(host, deployed)).toEqual({ host, port: 443 });
    }
    // Any other portless entry is 443, local or not.
    expect(parseEgressEntry('api.contoso.test', local)).toEqual({ host: 'api.contoso.test', port: 443 });
  });

  it('refuse what is not an entry', () => {
    const bad = ['a.com:0', 'a.com:65536', 'a.com:', 'a.com:08', 'https://a.com', 'a.com/x', '*', '*.1.2.3.4', '[zz::1]', '[::1', 'a b.com', '-a.com', ''];
    expect(invalidEgressEntries([...bad, 'ok.com', 'ok.com:1'], deployed)).toEqual(bad);
  });
});

describe('matching a host and port', () => {
  it('matches exact names and *.suffix names below the suffix, on the entry port', () => {
    const list = ['contoso.com', '*.contoso.net', 'api.fabrikam.com:8443'];
    expect(findEgressEntry('contoso.com', 443, list, deployed)).toBeDefined();
    expect(findEgressEntry('CONTOSO.com.', 443, list, deployed)).toBeDefined();
    expect(findEgressEntry('api.contoso.net', 443, list, deployed)).toBeDefined();
    expect(findEgressEntry('a.b.contoso.net', 443, list, deployed)).toBeDefined();
    expect(findEgressEntry('api.fabrikam.com', 8443, list, deployed)).toBeDefined();
    // Not the apex of a wildcard, not a lookalike suffix, not another name.
    expect(findEgressEntry('contoso.net', 443, list, deployed)).toBeUndefined();
    expect(findEgressEntry('contoso.net.evil.io', 443, list, deployed)).toBeUndefined();
    expect(findEgressEntry('evilcontoso.net', 443, list, deployed)).toBeUndefined();
    expect(findEgressEntry('www.contoso.com', 443, list, deployed)).toBeUndefined();
  });

  it('refuses another port: an entry with a port matches only it, one without matches only 443', () => {
    const list = ['contoso.com', 'api.fabrikam.com:8443'];
    expect(findEgressEntry('contoso.com', 8443, list, deployed)).toBeUndefined();
    expect(findEgressEntry('contoso.com', 80, list, local)).toBeUndefined();
    expect(findEgressEntry('api.fabrikam.com', 443, list, deployed)).toBeUndefined();
    // A portless loopback entry: any port locally, 443 only elsewhere.
    expect(findEgressEntry('127.0.0.1', 53_123, ['127.0.0.1'], local)).toBeDefined();
    expect(findEgressEntry('127.0.0.1', 53_123, ['127.0.0.1'], deployed)).toBeUndefined();
  });

  it('never matches an IP literal with a wildcard', () => {
    expect(findEgressEntry('127.0.0.1', 443, ['*.0.1'], deployed)).toBeUndefined();
    expect(findEgressEntry('127.0.0.1', 443, ['127.0.0.1:443'], deployed)).toBeDefined();
    expect(findEgressEntry('[::1]', 8080, ['[::1]:8080'], deployed)).toBeDefined();
  });
});

describe('the effective allow-list: tenant list limited to the deployment policy', () => {
  it("keeps a tenant entry the policy allows and drops one it does not (the tenant's list is not ignored)", () => {
    expect(effectiveEgressAllowList(['api.contoso.com', 'api.other.com'], ['api.contoso.com', 'api.fabrikam.com'], deployed)).toEqual(['api.contoso.com:443']);
  });

  it('grants nothing for a policy entry the tenant does not list', () => {
    expect(effectiveEgressAllowList([], ['api.contoso.com', '*.fabrikam.com'], deployed)).toEqual([]);
    expect(effectiveEgressAllowList(['api.contoso.com'], [], deployed)).toEqual([]);
  });

  it('takes the narrower host and the common port', () => {
    const policy = ['*.contoso.com', '*.fabrikam.com:8443', 'api.northwind.com'];
    expect(effectiveEgressAllowList(['api.contoso.com', 'contoso.com'], policy, deployed)).toEqual(['api.contoso.com:443']);
    expect(effectiveEgressAllowList(['*.eu.contoso.com', '*.contoso.com'], policy, deployed)).toEqual(['*.eu.contoso.com:443', '*.contoso.com:443']);
    // A tenant wildcard over a policy name: only that name.
    expect(effectiveEgressAllowList(['*.northwind.com'], policy, deployed)).toEqual(['api.northwind.com:443']);
    expect(effectiveEgressAllowList(['*.com'], policy, deployed)).toEqual(['*.contoso.com:443', 'api.northwind.com:443']);
    expect(effectiveEgressAllowList(['*.com:8443'], policy, deployed)).toEqual(['*.fabrikam.com:8443']);
    expect(effectiveEgressAllowList(['*.example.com', 'northwind.com'], policy, deployed)).toEqual([]);
    // Different ports share nothing.
    expect(effectiveEgressAllowList(['api.fabrikam.com'], policy, deployed)).toEqual([]);
    expect(effectiveEgressAllowList(['api.fabrikam.com:8443'], policy, deployed)).toEqual(['api.fabrikam.com:8443']);
  });

  it("narrows a local 'any port' loopback entry to the other side's port, and parses back the same", () => {
    expect(effectiveEgressAllowList(['127.0.0.1'], ['127.0.0.1'], local)).toEqual(['127.0.0.1']);
    const list = effectiveEgressAllowList(['127.0.0.1:7071'], ['127.0.0.1'], local);
    expect(list).toEqual(['127.0.0.1:7071']);
    expect(findEgressEntry('127.0.0.1', 7071, list, local)).toBeDefined();
    expect(findEgressEntry('127.0.0.1', 7072, list, local)).toBeUndefined();
  });

  it('drops invalid entries on either side', () => {
    expect(effectiveEgressAllowList(['api.contoso.com:99999', 'api.contoso.com'], ['api.contoso.com', 'bad entry'], deployed)).toEqual(['api.contoso.com:443']);
  });
});

describe('address classification', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:10.0.0.5', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['::ffff:169.254.169.254', 'cloud metadata'],
    ['::ffff:a9fe:a9fe', 'cloud metadata'],
    ['168.63.129.16', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::a9fe:a9fe', 'reserved'],
    ['2002:7f00:1::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['not-an-ip', 'invalid'],
    ['8.8.8.8', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
  ];
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('allows loopback only in local mode, and only for a literal loopback host', () => {
    expect(addressRefusal('127.0.0.1', '127.0.0.1', local)).toBeUndefined();
    expect(addressRefusal('localhost', '127.0.0.1', local)).toBeUndefined();
    expect(addressRefusal('localhost', '::1', local)).toBeUndefined();
    expect(addressRefusal('[::1]', '::1', local)).toBeUndefined();
    expect(addressRefusal('127.0.0.1', '127.0.0.1', deployed)).toBe('loopback');
    expect(addressRefusal('api.contoso.test', '127.0.0.1', local)).toBe('loopback');
    // A mapped form is not the loopback the entry names.
    expect(addressRefusal('localhost', '::ffff:127.0.0.1', local)).toBe('loopback');
    // Local mode relaxes loopback, nothing else.
    expect(addressRefusal('localhost', '10.0.0.5', local)).toBe('private');
    expect(addressRefusal('api.contoso.com', '8.8.8.8', deployed)).toBeUndefined();
  });
});
