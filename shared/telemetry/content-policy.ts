/**
 * Whether telemetry may record content (prompts, model outputs, tool arguments and results: the
 * GenAI conventions' opt-in attributes). Off unless BOTH the environment
 * (`TELEMETRY_CAPTURE_CONTENT=true`) and the tenant (`captureTelemetryContent: true` in its
 * catalog record) opt in. Even then, values under secret-looking keys are replaced and the text
 * is cut at {@link MAX_CONTENT_CHARS}; headers and tokens are never recorded anywhere.
 */
export interface ContentPolicy {
  /** True only when the environment and the tenant both allow content in telemetry. */
  captureContent(tenantId: string): Promise<boolean>;
}

export const NO_CONTENT: ContentPolicy = { captureContent: async () => false };

export function contentPolicy(environmentAllows: boolean, tenantAllows: (tenantId: string) => Promise<boolean>): ContentPolicy {
  if (!environmentAllows) return NO_CONTENT;
  return {
    async captureContent(tenantId) {
      try {
        return (await tenantAllows(tenantId)) === true;
      } catch {
        return false;
      }
    },
  };
}

export const MAX_CONTENT_CHARS = 16_384;
const SECRET_KEY = /(authorization|password|passwd|secret|token|cookie|signature|api[-_]?key|connection[-_]?string|credential)/i;

/** JSON text of `value` with secret-looking keys masked, cut to the size limit. */
export function contentText(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value, (key, v: unknown) => (key && SECRET_KEY.test(key) ? '[redacted]' : v)) ?? 'null';
  } catch {
    text = '"[unserializable]"';
  }
  return text.length > MAX_CONTENT_CHARS ? `${text.slice(0, MAX_CONTENT_CHARS)}…` : text;
}

/** The same for JSON text (tool arguments and results travel as text): parsed, masked, re-serialised. */
export function contentFromJsonText(text: string): string {
  try {
    return contentText(JSON.parse(text));
  } catch {
    return contentText(text);
  }
}
