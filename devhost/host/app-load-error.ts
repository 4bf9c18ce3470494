/** Raised when the app cannot be hosted; the message lists every problem found. */
export class AppLoadError extends Error {
  override readonly name = 'AppLoadError';
  constructor(readonly problems: string[]) {
    super(`The app cannot be hosted:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
