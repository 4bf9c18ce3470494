import { SeverityNumber, logs } from '@opentelemetry/api-logs';
import { context } from '@opentelemetry/api';
import { INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION } from './telemetry.js';

/**
 * Structured logs through the OpenTelemetry logs API: each record carries the active span's
 * trace id and span id (the SDK takes them from the context), and the caller's `tenant.id` and
 * `gen_ai.conversation.id` (the run id). Bodies are fixed sentences and attributes are ids,
 * counts and codes: never prompts, outputs, tool arguments, tokens or secrets (a key that looks
 * like one is dropped). Exported wherever traces go; warnings and errors also reach the console.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const SEVERITY: Record<LogLevel, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

const SECRET_KEY = /(authorization|password|secret|token|cookie|signature|api[-_]?key|connection[-_]?string)/i;

export type LogAttributes = Record<string, string | number | boolean | undefined>;

export function appLog(level: LogLevel, body: string, attributes: LogAttributes = {}): void {
  const clean: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(attributes)) {
    // Token counts are numbers and fine; a string under a secret-looking key never is.
    if (value === undefined || (typeof value === 'string' && SECRET_KEY.test(key))) continue;
    clean[key] = value;
  }
  logs.getLogger(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION).emit({
    severityNumber: SEVERITY[level],
    severityText: level.toUpperCase(),
    body,
    attributes: clean,
    context: context.active(),
  });
  if (level === 'warn' || level === 'error') {
    const line = JSON.stringify({ level, message: body, ...clean });
    if (level === 'error') console.error(line);
    else console.warn(line);
  }
}
