import { CronExpressionParser } from 'cron-parser';

/**
 * Cron evaluation for batch schedules, with `cron-parser`. Expressions are NCRONTAB-shaped, as
 * Functions timers are: six fields with seconds first, evaluated in UTC. Five-field expressions
 * are refused rather than guessed at (in NCRONTAB the first field is seconds).
 */

/** A problem with `expression`, or none. */
export function parseCron(expression: string): { problem?: string } {
  if (expression.trim().split(/\s+/).length !== 6) return { problem: 'must have 6 fields: second minute hour day month weekday' };
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
    return {};
  } catch (error) {
    return { problem: `not a valid cron expression: ${(error as Error).message}` };
  }
}

/**
 * The latest occurrence of `expression` in `(afterMs, atMs]` (epoch ms), or undefined. Only the
 * latest: a scheduler that was down for several slots starts one catch-up batch, not a burst,
 * as the Functions host does for a past-due timer.
 */
export function latestSlot(expression: string, afterMs: number, atMs: number): number | undefined {
  // prev() is strictly before currentDate; +1 ms makes an occurrence exactly at `atMs` count.
  const slot = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(atMs + 1) })
    .prev()
    .getTime();
  return slot > afterMs && slot <= atMs ? slot : undefined;
}
