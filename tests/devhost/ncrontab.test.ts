import { describe, expect, it } from 'vitest';
import { parseSchedule, tryParseTimeSpanInMs } from '../../devhost/timer/ncrontab.js';

const at = (iso: string): Date => new Date(iso);

/** The next `count` occurrences after `from`, as ISO strings. */
function occurrences(expression: string, from: string, count: number): string[] {
  const schedule = parseSchedule(expression);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < count; i++) {
    t = schedule.next(t);
    out.push(t.toISOString());
  }
  return out;
}

describe('parseSchedule: six-field NCRONTAB', () => {
  it('fires every five minutes on the minute, strictly after the base time', () => {
    expect(occurrences('0 */5 * * * *', '2024-05-01T10:00:00.000Z', 3)).toEqual(['2024-05-01T10:05:00.000Z', '2024-05-01T10:10:00.000Z', '2024-05-01T10:15:00.000Z']);
    expect(occurrences('0 */5 * * * *', '2024-05-01T10:04:59.999Z', 1)).toEqual(['2024-05-01T10:05:00.000Z']);
  });

  it('handles seconds, lists and ranges', () => {
    expect(occurrences('10,40 * * * * *', '2024-05-01T10:00:00Z', 3)).toEqual(['2024-05-01T10:00:10.000Z', '2024-05-01T10:00:40.000Z', '2024-05-01T10:01:10.000Z']);
    expect(occurrences('0 0 9-11 * * *', '2024-05-01T10:30:00Z', 3)).toEqual(['2024-05-01T11:00:00.000Z', '2024-05-02T09:00:00.000Z', '2024-05-02T10:00:00.000Z']);
  });

  it('supports stepped ranges and NCRONTAB\'s "a/n" (from a to the maximum)', () => {
    expect(occurrences('0 0 8-18/4 * * *', '2024-05-01T00:00:00Z', 4)).toEqual([
      '2024-05-01T08:00:00.000Z',
      '2024-05-01T12:00:00.000Z',
      '2024-05-01T16:00:00.000Z',
      '2024-05-02T08:00:00.000Z',
    ]);
    expect(occurrences('0 50/5 * * * *', '2024-05-01T10:00:00Z', 3)).toEqual(['2024-05-01T10:50:00.000Z', '2024-05-01T10:55:00.000Z', '2024-05-01T11:50:00.000Z']);
  });

  it('reads month and day names by case-insensitive prefix', () => {
    // Weekdays at 09:30: 2024-05-03 is a Friday.
    expect(occurrences('0 30 9 * * Mon-Fri', '2024-05-03T10:00:00Z', 2)).toEqual(['2024-05-06T09:30:00.000Z', '2024-05-07T09:30:00.000Z']);
    expect(occurrences('0 0 0 1 jan,JULY *', '2024-02-01T00:00:00Z', 2)).toEqual(['2024-07-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']);
    expect(parseSchedule('0 0 0 * * sunday').next(at('2024-05-01T00:00:00Z')).toISOString()).toBe('2024-05-05T00:00:00.000Z');
  });

  it('requires day-of-month AND day-of-week, as NCrontab does (not the Unix cron union)', () => {
    // Friday the 13th: September and December 2024.
    expect(occurrences('0 0 0 13 * Fri', '2024-05-01T00:00:00Z', 2)).toEqual(['2024-09-13T00:00:00.000Z', '2024-12-13T00:00:00.000Z']);
  });

  it('skips months too short for the day and finds leap days', () => {
    expect(occurrences('0 0 0 31 * *', '2024-01-31T00:00:00Z', 3)).toEqual(['2024-03-31T00:00:00.000Z', '2024-05-31T00:00:00.000Z', '2024-07-31T00:00:00.000Z']);
    expect(occurrences('0 0 12 29 Feb *', '2024-03-01T00:00:00Z', 1)).toEqual(['2028-02-29T12:00:00.000Z']);
  });

  it('rolls over the end of the year', () => {
    expect(occurrences('0 0 0 * * *', '2024-12-31T23:59:59Z', 1)).toEqual(['2025-01-01T00:00:00.000Z']);
  });
});

describe('parseSchedule: five fields and TimeSpan', () => {
  it('accepts five fields as minute-level cron with seconds at zero', () => {
    const schedule = parseSchedule('*/15 * * * *');
    expect(schedule.kind).toBe('cron');
    expect(occurrences('*/15 * * * *', '2024-05-01T10:07:30Z', 2)).toEqual(['2024-05-01T10:15:00.000Z', '2024-05-01T10:30:00.000Z']);
  });

  it('accepts TimeSpan intervals and adds them to the base time', () => {
    const schedule = parseSchedule('00:00:30');
    expect(schedule.kind).toBe('interval');
    expect(schedule.adjustForDst).toBe(false);
    expect(schedule.next(at('2024-05-01T10:00:00.250Z')).toISOString()).toBe('2024-05-01T10:00:30.250Z');
    expect(parseSchedule('1.02:00:00').next(at('2024-05-01T00:00:00Z')).toISOString()).toBe('2024-05-02T02:00:00.000Z');
  });

  it('parses the TimeSpan forms .NET accepts', () => {
    expect(tryParseTimeSpanInMs('00:05:00')).toBe(300_000);
    expect(tryParseTimeSpanInMs('00:05')).toBe(300_000);
    expect(tryParseTimeSpanInMs('1:00:00:01.5')).toBe(86_401_500);
    expect(tryParseTimeSpanInMs('2')).toBe(2 * 86_400_000);
    expect(tryParseTimeSpanInMs('24:00:00')).toBeUndefined();
    expect(tryParseTimeSpanInMs('-00:00:05')).toBeUndefined();
    expect(tryParseTimeSpanInMs('soon')).toBeUndefined();
  });

  it("reports the host's sub-minute rule for switching the schedule monitor off", () => {
    expect(parseSchedule('*/10 * * * * *').firesMoreThanOncePerMinute()).toBe(true);
    expect(parseSchedule('0 * * * * *').firesMoreThanOncePerMinute()).toBe(false);
    expect(parseSchedule('* 5 * * * *').firesMoreThanOncePerMinute()).toBe(false);
    expect(parseSchedule('00:00:30').firesMoreThanOncePerMinute()).toBe(true);
    expect(parseSchedule('00:01:00').firesMoreThanOncePerMinute()).toBe(false);
  });

  it('describes itself', () => {
    expect(parseSchedule('0 */5 9-17 * * Mon-Fri').describe()).toBe(
      "cron '0 */5 9-17 * * Mon-Fri' (UTC): second 0; minute 0-55/5; hour 9-17; every day; every month; day-of-week Mon-Fri",
    );
    expect(parseSchedule('00:05:00').describe()).toContain('every 00:05:00');
  });
});

describe('parseSchedule: bad expressions', () => {
  const cases: [string, RegExp][] = [
    ['', /is empty/],
    ['* * * *', /found 4 fields/],
    ['* * * * * * *', /found 7 fields/],
    ['60 * * * * *', /second field '60': 60 is outside 0-59/],
    ['0 0 24 * * *', /hour field '24'/],
    ['0 0 0 0 * *', /day field '0': 0 is outside 1-31/],
    ['0 0 0 * 13 *', /month field '13'/],
    ['0 0 0 * * 7', /day-of-week field '7'.*does not accept 7/],
    ['0 0 0 * Foo *', /month field 'Foo': 'Foo' is not a known name/],
    ['0 */0 * * * *', /minute field '\*\/0': a step of 0/],
    ['0 /5 * * * *', /minute field '\/5'/],
    ['0 5-1 * * * *', /range 5-1 is reversed/],
    ['0 1,,2 * * * *', /list item is empty/],
    ['0 x * * * *', /minute field 'x': 'x' is not a number/],
    ['0 0 0 30 Feb *', /never fire/],
    ['00:00:00', /longer than zero/],
    ['every day', /found 2 fields/],
  ];
  it.each(cases)('rejects %j', (expression, message) => {
    expect(() => parseSchedule(expression)).toThrow(message);
    expect(() => parseSchedule(expression)).toThrow(`'${expression}'`);
  });
});
