/**
 * Application errors. Each has a literal `name`, a stable `code`, an HTTP `status` and a
 * `retryable` flag. Match on `name`/`code`, never `instanceof`: errors cross the activity
 * boundary as plain data and lose their prototype.
 */
export interface AppErrorShape {
  name: string;
  code: string;
  status: number;
  retryable: boolean;
  message: string;
}

export class AppError extends Error implements AppErrorShape {
  override readonly name: string = 'AppError';
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra problem+json members safe to show the caller. */
  readonly extensions: Readonly<Record<string, unknown>>;
  /** Response headers the HTTP edge adds (`WWW-Authenticate`, `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { retryable?: boolean; cause?: unknown; extensions?: Record<string, unknown>; headers?: Readonly<Record<string, string>> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.retryable = options.retryable ?? (status === 429 || status >= 500);
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

export class ValidationError extends AppError {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
    code = 'validation_failed',
  ) {
    super(code, 400, message, { extensions: problems.length ? { errors: problems } : {} });
  }
}

export class NotFoundError extends AppError {
  override readonly name = 'NotFoundError';
  constructor(message: string, code = 'not_found') {
    super(code, 404, message);
  }
}

export class ForbiddenError extends AppError {
  override readonly name = 'ForbiddenError';
  constructor(message: string, code = 'forbidden') {
    super(code, 403, message);
  }
}

/** True for any object carrying our error shape, whatever its prototype. */
export function isAppErrorShape(value: unknown): value is AppErrorShape {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['code'] === 'string' && typeof v['status'] === 'number' && typeof v['retryable'] === 'boolean';
}

/**
 * A configuration-like document (settings, agent files, tenant or schedule catalogs) is invalid.
 * Lists every problem at once, never only the first. An operator's fault: status 500, not retryable.
 */
export class ProblemListError extends Error {
  override readonly name: string = 'ProblemListError';
  readonly status = 500;
  readonly retryable = false;
  constructor(
    readonly code: string,
    heading: string,
    readonly problems: readonly string[],
  ) {
    super(`${heading}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
