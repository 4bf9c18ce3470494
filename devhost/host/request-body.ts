import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Request body limits, for every door of the devhost (app routes, the durable API, admin).
 * The host-wide limit is `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`, as on the Functions host (where it
 * sets Kestrel's `MaxRequestBodySize`). A declared `Content-Length` over it is refused before a
 * byte of the body is read; a chunked body is read only up to it, so no request holds more than
 * the limit (plus the chunk that crossed it) in memory.
 */

/** The devhost's default limit when FUNCTIONS_REQUEST_BODY_SIZE_LIMIT is unset: 4 MiB. */
export const DEFAULT_REQUEST_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * After a 413, the rest of an over-long body is read and discarded up to this many bytes so a
 * client that is still sending gets the answer on a clean connection; past it the socket is
 * destroyed. Nothing of it is kept.
 */
export const OVERFLOW_DRAIN_BYTES = 256 * 1024;

export class RequestTooLargeError extends Error {
  override readonly name = 'RequestTooLargeError';
}

/** The declared `Content-Length`, or undefined for a chunked (or bodiless) request. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const n = Number(header);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** True when the request declares more than `limitBytes` (nothing needs reading to know). */
export function declaresTooMuch(req: IncomingMessage, limitBytes: number): boolean {
  return (declaredLength(req) ?? 0) > limitBytes;
}

/**
 * Reads the whole body, failing with `RequestTooLargeError` as soon as it passes `limitBytes`
 * (at once, without reading, when the declared length is over). On failure the request is
 * paused and its listeners removed: nothing more is read or kept; answer with
 * `refuseTooLarge`, which decides what happens to the rest.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (declaresTooMuch(req, limitBytes)) return Promise.reject(new RequestTooLargeError(`body of ${declaredLength(req)} bytes`));
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(new RequestTooLargeError(`body over ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolvePromise(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** `readBody` as UTF-8 text. */
export async function readBodyText(req: IncomingMessage, limitBytes: number): Promise<string> {
  return (await readBody(req, limitBytes)).toString('utf8');
}

/**
 * Answers 413 for a body over the limit. A declared length over the limit (nothing read yet):
 * `Connection: close` and the socket closes once the answer is out, so a client that waits for
 * an early answer (or sent `Expect: 100-continue`) never sends the body. A chunked body cut off
 * at the limit: the rest is read and discarded up to `OVERFLOW_DRAIN_BYTES`, so the client can
 * read the 413 (and, if the body ends in time, the connection stays usable); past that the
 * server stops reading and closes the connection (`lingeringClose`).
 */
export function refuseTooLarge(req: IncomingMessage, res: ServerResponse, body?: { type: string; text: string }): void {
  const declared = declaredLength(req) !== undefined;
  const bytes = body ? Buffer.from(body.text) : undefined;
  const headers: Record<string, string> = bytes
    ? { 'content-type': body?.type ?? 'application/json; charset=utf-8', 'content-length': String(bytes.length) }
    : { 'content-length': '0' };
  if (declared) headers['connection'] = 'close';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(413, headers);
  res.end(bytes);
  if (declared || req.complete) return;
  let discarded = 0;
  const onData = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded <= OVERFLOW_DRAIN_BYTES) return;
    req.off('data', onData);
    lingeringClose(req.socket);
  };
  req.on('data', onData);
  req.resume();
}

/**
 * How long a connection cut after a 413 stays half-open before it is destroyed. Destroying a
 * socket with unread input makes the kernel answer with a reset, and a reset that reaches the
 * client before it has read the 413 discards the answer with it; so the server first stops
 * reading, sends its FIN after the answer, and only then, after this grace, lets go (the
 * "lingering close" of HTTP servers such as nginx and Apache).
 */
export const LINGERING_CLOSE_MS = 2_000;

function lingeringClose(socket: Socket): void {
  socket.pause();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGERING_CLOSE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
