import type { RpcHttpCookie } from '../host/core-types.js';

/**
 * `Set-Cookie` values exactly as the Functions host writes a worker's `RpcHttpCookie`s.
 *
 * The host turns each cookie into ASP.NET Core `CookieOptions` (azure-functions-host
 * `GrpcMessageExtensionUtilities.RpcHttpCookieConverter`) and appends it with
 * `response.Cookies.Append(name, value, options)` (`RawScriptResult.ExecuteResultAsync`).
 * ASP.NET Core then renders it with `SetCookieHeaderValue.ToString()` (dotnet/aspnetcore
 * `src/Http/Headers/src/SetCookieHeaderValue.cs`, `ResponseCookies.cs`, `CookieOptions.cs`):
 *
 * - `name=value`, the value escaped with `Uri.EscapeDataString` (the name is not escaped);
 * - then, in this order and lower-case: `expires=` (RFC 1123, `r` format), `max-age=` (whole
 *   seconds), `domain=`, `path=`, `secure`, `samesite=strict|lax|none`, `httponly`;
 * - `path` defaults to `/` (`new CookieOptions()`), kept unless the cookie sets one;
 * - SameSite: the library's default `none` maps to `Unspecified` (no attribute); `explicitNone`
 *   is `samesite=none`.
 *
 * What ASP.NET Core refuses (a name that is not an RFC 7230 token, a negative max-age:
 * `HeaderUtilities.FormatNonNegativeInt64` throws) fails the response: {@link CookieRenderError}.
 */

export class CookieRenderError extends Error {
  override readonly name = 'CookieRenderError';
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `Uri.EscapeDataString`: percent-encodes everything but RFC 3986 unreserved characters. */
function escapeDataString(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function renderSetCookie(cookie: RpcHttpCookie): string {
  const name = cookie.name ?? '';
  if (name !== '' && !TOKEN.test(name)) throw new CookieRenderError(`invalid cookie name ${JSON.stringify(name)}`);
  let out = `${name}=${escapeDataString(cookie.value ?? '')}`;

  const expires = cookie.expires?.value;
  if (expires && typeof expires.seconds === 'number') {
    const date = new Date(expires.seconds * 1000 + Math.trunc((expires.nanos ?? 0) / 1e6));
    if (Number.isNaN(date.getTime())) throw new CookieRenderError('cookie expires out of range');
    out += `; expires=${date.toUTCString()}`;
  }
  const maxAge = cookie.maxAge?.value;
  if (typeof maxAge === 'number') {
    // TimeSpan.FromSeconds(value), then (long)TotalSeconds: truncated toward zero.
    if (!Number.isFinite(maxAge)) throw new CookieRenderError(`cookie max-age ${maxAge} is not a number of seconds`);
    const seconds = Math.trunc(maxAge);
    if (seconds < 0) throw new CookieRenderError(`cookie max-age ${maxAge} is negative`);
    out += `; max-age=${seconds}`;
  }
  // A NullableString that is present sets the option even when empty (`cookie.Domain != null`).
  if (cookie.domain) out += `; domain=${cookie.domain.value ?? ''}`;
  out += `; path=${cookie.path ? (cookie.path.value ?? '') : '/'}`;
  if (cookie.secure?.value) out += '; secure';
  if (cookie.sameSite === 'strict') out += '; samesite=strict';
  else if (cookie.sameSite === 'lax') out += '; samesite=lax';
  else if (cookie.sameSite === 'explicitNone') out += '; samesite=none';
  if (cookie.httpOnly?.value) out += '; httponly';
  return out;
}
