/**
 * Timer-trigger schedules, read the way the Azure Functions timer extension reads them: an
 * NCRONTAB expression (the NCrontab library with seconds) or, failing that, a .NET TimeSpan
 * interval. Occurrences are computed in UTC — the host uses the machine's local time zone, which
 * on Azure is UTC unless WEBSITE_TIME_ZONE says otherwise; the devhost does not read it.
 *
 * Where NCrontab and classic Unix cron differ, this follows NCrontab, because the app runs on it
 * in Azure:
 * - day-of-month and day-of-week must BOTH match (NCrontab intersects them; Vixie cron unions them
 *   when both are restricted). `0 0 9 13 * Fri` is "Friday the 13th at 09:00".
 * - day-of-week is 0-6 with Sunday = 0; NCrontab rejects 7, so a schedule using 7 would fail at
 *   Azure start-up. We reject it here with a hint instead of letting it pass locally.
 * - names match by case-insensitive prefix in calendar order (`Jan`, `january`, `Ju` = June).
 * - `a/n` means "from a to the field's maximum, every n".
 *
 * Deliberately stricter than NCrontab (it accepts these silently and they are always mistakes):
 * reversed ranges (`5-1`, which NCrontab swaps), a step of 0 (NCrontab treats it as 1) and
 * day/month combinations that never occur (`0 0 0 30 Feb *`, which NCrontab schedules for year
 * 9999).
 */

/** A parsed timer schedule. Immutable; safe to share. */
export interface Schedule {
  /** `cron` for NCRONTAB expressions, `interval` for TimeSpan schedules. */
  readonly kind: 'cron' | 'interval';
  /** The expression as written (trimmed). */
  readonly expression: string;
  /**
   * What the host reports as `TimerInfo.Schedule.AdjustForDST`: `true` for cron schedules,
   * `false` for TimeSpan intervals.
   */
  readonly adjustForDst: boolean;
  /**
   * The first occurrence strictly after `after`, in UTC. Cron occurrences fall on whole seconds;
   * an interval schedule returns `after + interval` exactly (millisecond precision).
   */
  next(after: Date): Date;
  /** A one-line, human-readable account of the schedule, e.g. for start-up logs. */
  describe(): string;
  /**
   * The host's rule for turning the schedule monitor off: `true` for TimeSpan intervals under a
   * minute and for cron schedules whose only restriction is the seconds field and that fire more
   * than once a minute (`0/10 * * * * *`). Such timers never report `ScheduleStatus`.
   */
  firesMoreThanOncePerMinute(): boolean;
}

interface FieldSpec {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly hint?: string;
}

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;

const SECOND: FieldSpec = { label: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { label: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { label: 'hour', min: 0, max: 23 };
const DAY: FieldSpec = { label: 'day', min: 1, max: 31 };
const MONTH: FieldSpec = { label: 'month', min: 1, max: 12, names: MONTH_NAMES };
const DAY_OF_WEEK: FieldSpec = {
  label: 'day-of-week',
  min: 0,
  max: 6,
  names: DAY_NAMES,
  hint: ' Sunday is 0 (or Sun); NCRONTAB, which Azure Functions uses, does not accept 7.',
};

const FORMAT_HINT = "expected 6 fields '{second} {minute} {hour} {day} {month} {day-of-week}', 5 fields (no seconds) " + "or a TimeSpan interval such as '00:05:00'";

/** Days in each month at most (February counts 29: it occurs in leap years). */
const MAX_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * Parses a timer schedule: six NCRONTAB fields `{second} {minute} {hour} {day} {month}
 * {day-of-week}`, five fields (seconds fixed at 0, as the host accepts), or a TimeSpan interval
 * (`hh:mm:ss`, `hh:mm`, `d.hh:mm:ss`, `d:hh:mm:ss`, or a whole number of days).
 *
 * @throws Error naming the expression and the offending field when it is not a valid schedule.
 */
export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  const fail = (reason: string): never => {
    throw new Error(`Invalid timer schedule '${expression}': ${reason}.`);
  };
  if (text === '') fail(`the expression is empty; ${FORMAT_HINT}`);
  const tokens = text.split(/\s+/);
  if (tokens.length === 5 || tokens.length === 6) return parseCron(text, tokens, fail);
  if (tokens.length === 1) {
    const intervalMs = tryParseTimeSpanInMs(text);
    if (intervalMs === undefined) fail(`'${text}' is neither a cron expression nor a TimeSpan; ${FORMAT_HINT}`);
    if (intervalMs !== undefined && intervalMs <= 0) fail('a TimeSpan interval must be longer than zero');
    return new IntervalSchedule(text, intervalMs ?? 0);
  }
  return fail(`found ${tokens.length} fields; ${FORMAT_HINT}`);
}

/**
 * Parses a .NET TimeSpan string as host.json and timer schedules use it (`hh:mm:ss`, `hh:mm`,
 * `d.hh:mm:ss[.fffffff]`, `d:hh:mm:ss`, or a whole number of days) into milliseconds.
 * Negative spans are not accepted.
 *
 * @returns milliseconds (rounded to the nearest ms), or `undefined` when `text` is not a TimeSpan.
 */
export function tryParseTimeSpanInMs(text: string): number | undefined {
  const trimmed = text.trim();
  const daysOnly = /^(\d+)$/.exec(trimmed);
  if (daysOnly) return Number(daysOnly[1]) * 86_400_000;
  const dotted = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$/.exec(trimmed);
  const colon = /^(\d+):(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(trimmed);
  const match = dotted ?? colon;
  if (!match) return undefined;
  const [, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = ''] = match;
  const h = Number(hours);
  const m = Number(minutes);
  const s = Number(seconds);
  // .NET rejects out-of-range components rather than carrying them over.
  if (h > 23 || m > 59 || s > 59) return undefined;
  const fractionMs = fraction === '' ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  return ((Number(days) * 24 + h) * 60 + m) * 60_000 + s * 1000 + fractionMs;
}

class IntervalSchedule implements Schedule {
  readonly kind = 'interval' as const;
  readonly adjustForDst = false;

  constructor(
    readonly expression: string,
    private readonly intervalMs: number,
  ) {}

  next(after: Date): Date {
    return new Date(after.getTime() + this.intervalMs);
  }

  describe(): string {
    return `every ${this.expression} (TimeSpan interval, ${this.intervalMs} ms)`;
  }

  firesMoreThanOncePerMinute(): boolean {
    return this.intervalMs < 60_000;
  }
}

/** One cron field: `allowed[v - min]` says whether value `v` matches. */
class CronField {
  constructor(
    readonly spec: FieldSpec,
    readonly allowed: readonly boolean[],
  ) {}

  has(value: number): boolean {
    return this.allowed[value - this.spec.min] === true;
  }

  /** The smallest allowed value >= `from`, or undefined. */
  nextFrom(from: number): number | undefined {
    for (let v = Math.max(from, this.spec.min); v <= this.spec.max; v++) if (this.has(v)) return v;
    return undefined;
  }

  isFull(): boolean {
    return this.allowed.every(Boolean);
  }

  values(): number[] {
    const out: number[] = [];
    for (let v = this.spec.min; v <= this.spec.max; v++) if (this.has(v)) out.push(v);
    return out;
  }
}

function parseCron(text: string, tokens: readonly string[], fail: (reason: string) => never): Schedule {
  const specs = tokens.length === 6 ? [SECOND, MINUTE, HOUR, DAY, MONTH, DAY_OF_WEEK] : [MINUTE, HOUR, DAY, MONTH, DAY_OF_WEEK];
  const fields = specs.map((spec, i) => parseField(tokens[i] ?? '', spec, fail));
  const [second, minute, hour, day, month, dayOfWeek] = tokens.length === 6 ? fields : [new CronField(SECOND, [true, ...new Array<boolean>(59).fill(false)]), ...fields];
  if (!second || !minute || !hour || !day || !month || !dayOfWeek) return fail('internal error: missing field');

  // NCrontab would accept "30 Feb" and schedule it for the year 9999; say so now instead.
  const occurs = month.values().some((m) => day.values().some((d) => d <= (MAX_DAYS_IN_MONTH[m - 1] ?? 31)));
  if (!occurs) {
    fail(`day field '${tokens[tokens.length - 3] ?? ''}' never falls in month field '${tokens[tokens.length - 2] ?? ''}', so it would never fire`);
  }
  return new CronSchedule(text, tokens.length === 6, second, minute, hour, day, month, dayOfWeek);
}

function parseField(token: string, spec: FieldSpec, fail: (reason: string) => never): CronField {
  const allowed = new Array<boolean>(spec.max - spec.min + 1).fill(false);
  const bad = (reason: string): never => fail(`${spec.label} field '${token}': ${reason}`);
  for (const part of token.split(',')) {
    if (part === '') bad('a list item is empty');
    let body = part;
    let step = 1;
    const slash = part.indexOf('/');
    if (slash === 0) bad(`'${part}' has a step but no range (write '*${part}')`);
    if (slash > 0) {
      const stepText = part.slice(slash + 1);
      if (!/^\d+$/.test(stepText)) bad(`step '${stepText}' is not a whole number`);
      step = Number(stepText);
      if (step === 0) bad('a step of 0 never advances');
      body = part.slice(0, slash);
    }
    let first: number;
    let last: number;
    if (body === '*') {
      first = spec.min;
      last = spec.max;
    } else {
      const dash = body.indexOf('-');
      if (dash > 0) {
        first = parseValue(body.slice(0, dash), spec, bad);
        last = parseValue(body.slice(dash + 1), spec, bad);
        if (first > last) bad(`range ${body} is reversed (NCRONTAB would silently read it as ${last}-${first})`);
      } else {
        first = parseValue(body, spec, bad);
        // NCrontab reads "a/n" as "a to the maximum, every n".
        last = slash > 0 ? spec.max : first;
      }
    }
    for (let v = first; v <= last; v += step) allowed[v - spec.min] = true;
  }
  return new CronField(spec, allowed);
}

function parseValue(text: string, spec: FieldSpec, bad: (reason: string) => never): number {
  if (text === '') return bad('a value is empty');
  let value: number;
  if (/^\d+$/.test(text)) {
    value = Number(text);
  } else if (/^[0-9]/.test(text) || !spec.names) {
    return bad(`'${text}' is not a number${spec.names ? ' or name' : ''}`);
  } else {
    const lower = text.toLowerCase();
    const index = spec.names.findIndex((name) => name.toLowerCase().startsWith(lower));
    if (index < 0) return bad(`'${text}' is not a known name (use one of ${spec.names.map((n) => n.slice(0, 3)).join(', ')})`);
    value = index + spec.min;
  }
  if (value < spec.min || value > spec.max) bad(`${value} is outside ${spec.min}-${spec.max}.${spec.hint ?? ''}`);
  return value;
}

class CronSchedule implements Schedule {
  readonly kind = 'cron' as const;
  readonly adjustForDst = true;

  constructor(
    readonly expression: string,
    private readonly hasSeconds: boolean,
    private readonly second: CronField,
    private readonly minute: CronField,
    private readonly hour: CronField,
    private readonly day: CronField,
    private readonly month: CronField,
    private readonly dayOfWeek: CronField,
  ) {}

  next(after: Date): Date {
    // Start at the next whole second: occurrences are strictly after `after`.
    let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
    const giveUpYear = new Date(t).getUTCFullYear() + 400;
    for (;;) {
      const d = new Date(t);
      const year = d.getUTCFullYear();
      const month = d.getUTCMonth() + 1;
      const day = d.getUTCDate();
      const hour = d.getUTCHours();
      const minute = d.getUTCMinutes();
      // Every valid day/month pair meets every weekday within 28 years; 400 is a safety net.
      if (year > giveUpYear) throw new Error(`Timer schedule '${this.expression}' has no occurrence after ${after.toISOString()}.`);
      if (!this.month.has(month)) {
        const m = this.month.nextFrom(month + 1);
        t = m === undefined ? Date.UTC(year + 1, (this.month.nextFrom(1) ?? 1) - 1, 1) : Date.UTC(year, m - 1, 1);
        continue;
      }
      if (!this.day.has(day) || !this.dayOfWeek.has(d.getUTCDay())) {
        t = Date.UTC(year, month - 1, day + 1);
        continue;
      }
      const h = this.hour.nextFrom(hour);
      if (h === undefined) {
        t = Date.UTC(year, month - 1, day + 1);
        continue;
      }
      if (h > hour) {
        t = Date.UTC(year, month - 1, day, h);
        continue;
      }
      const m = this.minute.nextFrom(minute);
      if (m === undefined) {
        t = Date.UTC(year, month - 1, day, hour + 1);
        continue;
      }
      if (m > minute) {
        t = Date.UTC(year, month - 1, day, hour, m);
        continue;
      }
      const s = this.second.nextFrom(d.getUTCSeconds());
      if (s === undefined) {
        t = Date.UTC(year, month - 1, day, hour, minute + 1);
        continue;
      }
      return new Date(Date.UTC(year, month - 1, day, hour, minute, s));
    }
  }

  describe(): string {
    const parts = [
      ...(this.hasSeconds ? [describeField(this.second)] : []),
      describeField(this.minute),
      describeField(this.hour),
      describeField(this.day),
      describeField(this.month),
      describeField(this.dayOfWeek),
    ];
    return `cron '${this.expression}' (UTC): ${parts.join('; ')}`;
  }

  firesMoreThanOncePerMinute(): boolean {
    const onlySeconds = [this.minute, this.hour, this.day, this.month, this.dayOfWeek].every((f) => f.isFull());
    return onlySeconds && this.second.values().length > 1;
  }
}

/** "every minute", "hour 9", "minute 0-55/5", "day-of-week Mon-Fri", "month Jan,Jul". */
function describeField(field: CronField): string {
  const { spec } = field;
  if (field.isFull()) return `every ${spec.label}`;
  const values = field.values();
  const name = (v: number): string => spec.names?.[v - spec.min]?.slice(0, 3) ?? String(v);
  const first = values[0];
  const second = values[1];
  const lastValue = values[values.length - 1];
  if (values.length >= 3 && first !== undefined && second !== undefined && lastValue !== undefined) {
    const step = second - first;
    if (step > 1 && values.every((v, i) => v === first + i * step)) {
      return `${spec.label} ${name(first)}-${name(lastValue)}/${step}`;
    }
  }
  const runs: string[] = [];
  let start = first;
  let prev = first;
  for (const v of [...values.slice(1), Number.NaN]) {
    if (prev !== undefined && v === prev + 1) {
      prev = v;
      continue;
    }
    if (start !== undefined && prev !== undefined) runs.push(start === prev ? name(start) : `${name(start)}-${name(prev)}`);
    start = v;
    prev = v;
  }
  return `${spec.label} ${runs.join(',')}`;
}
