/**
 * The one polling helper for tests (issue 12): resolves with the first value `probe` returns
 * that is neither `undefined` nor `false`, checking every `intervalMs` until `timeoutMs`; then
 * fails naming `what`. Used where nothing emits an event to wait on (a store, a status endpoint, a
 * child process's output); the timeout is a safety net for a hung run, not a timing assertion.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
