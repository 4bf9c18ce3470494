import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { hostSendsBody, httpTriggerMetadata, toProxiedRpcHttpRequest, toRpcHttpRequest } from '../../devhost/http/rpc-http-request.js';
import { renderSetCookie } from '../../devhost/http/set-cookie.js';

/** A request as the Node server parses it, from raw header lines. */
function request(rawHeaders: string[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  const headers: Record<string, string> = {};
  const distinct: Record<string, string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
    (distinct[key] ??= []).push(value);
  }
  Object.defineProperty(req, 'headers', { value: headers });
  Object.defineProperty(req, 'headersDistinct', { value: distinct });
  return req;
}

describe('RPC HTTP request as the host builds it', () => {
  const url = new URL('http://127.0.0.1:7071/api/items/7?tag=a&TAG=b&empty=&code=secret&plus=1+2');

  it('sends nullable maps, repeats joined with "," and query names merged case-insensitively', () => {
    const req = request(['Host', '127.0.0.1:7071', 'X-Multi', 'one', 'x-multi', 'two', 'X-Empty', '']);
    const http = toRpcHttpRequest(req, url, 'GET', { id: '7' }, undefined);
    expect(http.nullableHeaders).toEqual({ host: { value: '127.0.0.1:7071' }, 'x-multi': { value: 'one,two' }, 'x-empty': { value: '' } });
    expect(http.nullableQuery).toEqual({ tag: { value: 'a,b' }, empty: { value: '' }, code: { value: 'secret' }, plus: { value: '1 2' } });
    expect(http.nullableParams).toEqual({ id: { value: '7' } });
    expect(http.url).toBe('http://127.0.0.1:7071/api/items/7?tag=a&TAG=b&empty=&code=secret&plus=1+2');
    expect(http).not.toHaveProperty('body');
  });

  it('sends a body only for Content-Length > 0', () => {
    expect(hostSendsBody(request(['Content-Length', '3']))).toBe(true);
    expect(hostSendsBody(request(['Content-Length', '0']))).toBe(false);
    expect(hostSendsBody(request(['Transfer-Encoding', 'chunked']))).toBe(false);
    expect(hostSendsBody(request([]))).toBe(false);
  });

  it('puts query names (last value, not code), route parameters, Query and Headers in the trigger metadata', () => {
    const metadata = httpTriggerMetadata(request(['Host', 'h']), url, { id: '7', tag: 'route wins' });
    expect(metadata).toEqual({
      tag: { string: 'route wins' },
      empty: { string: '' },
      plus: { string: '1 2' },
      id: { string: '7' },
      Query: { json: JSON.stringify({ tag: 'b', empty: '', code: 'secret', plus: '1 2' }) },
      Headers: { json: JSON.stringify({ host: 'h' }) },
    });
  });

  it('keeps a proxied request minimal: empty, or only the route parameters when the worker asks', () => {
    expect(toProxiedRpcHttpRequest({ id: '7' }, false)).toEqual({});
    expect(toProxiedRpcHttpRequest({ id: '7' }, true)).toEqual({ nullableParams: { id: { value: '7' } } });
  });
});

describe('Set-Cookie as the host renders it', () => {
  it('defaults the path to / and adds nothing else', () => {
    expect(renderSetCookie({ name: 'a', value: 'b', sameSite: 'none' })).toBe('a=b; path=/');
  });

  it('escapes the value as Uri.EscapeDataString, not the name', () => {
    expect(renderSetCookie({ name: 'n', value: "a b!*'();=é" })).toBe('n=a%20b%21%2A%27%28%29%3B%3D%C3%A9; path=/');
  });

  it('keeps a present but empty path or domain, truncates max-age, and formats expires as RFC 1123', () => {
    expect(
      renderSetCookie({
        name: 'n',
        value: 'v',
        path: { value: '' },
        domain: { value: '' },
        maxAge: { value: 59.99 },
        expires: { value: { seconds: Date.UTC(2031, 5, 7, 8, 9, 10) / 1000 } },
      }),
    ).toBe('n=v; expires=Sat, 07 Jun 2031 08:09:10 GMT; max-age=59; domain=; path=');
  });

  it('refuses what ASP.NET Core refuses: a negative max-age, a name that is not a token', () => {
    expect(() => renderSetCookie({ name: 'n', value: 'v', maxAge: { value: -1 } })).toThrow(expect.objectContaining({ name: 'CookieRenderError' }));
    expect(() => renderSetCookie({ name: 'a b', value: 'v' })).toThrow(expect.objectContaining({ name: 'CookieRenderError' }));
  });
});
