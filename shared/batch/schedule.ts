import { readFile } from 'node:fs/promises';
import { ProblemListError } from '../errors.js';
import { z } from 'zod';
import type { BlobStore } from '../storage/blob-store.js';
import { TenantIdSchema } from '../tenancy/tenant.js';
import { duplicateIdProblems, parseDocument } from '../config-document.js';
import { InputMappingSchema } from '../webhooks/payload-mapping.js';
import { parseCron } from './cron-slots.js';

/**
 * Batch schedules: control-plane records saying which agent runs over which items, when, and how
 * many at once. Validated with zod wherever they are loaded; a bad document is reported with
 * every problem and no schedule from it runs (half a control plane is worse than none).
 */

const Slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a lower-case slug');

const CronSchema = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    const problem = parseCron(value).problem;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** What a batch runs over, and how each item becomes an agent input. */
export const ScheduleInputSchema = z
  .strictObject({
    /** Item → agent input, with JSON pointers into the item (`{{/path}}`); default: the item itself. */
    template: InputMappingSchema.default({ pointer: '' }),
    /** A fixed list of items (any JSON). */
    items: z.array(z.unknown()).min(1).max(1_000).optional(),
    /** One item per document under `prefix` in the tenant's blob space: `{path, size, lastModified}`. */
    documents: z.strictObject({ prefix: z.string().max(512).default(''), limit: z.number().int().min(1).max(1_000).default(100) }).optional(),
  })
  .refine((i) => (i.items === undefined) !== (i.documents === undefined), 'give exactly one of "items" or "documents"');
export type ScheduleInput = z.infer<typeof ScheduleInputSchema>;

export const ScheduleSchema = z.strictObject({
  id: Slug,
  tenantId: TenantIdSchema,
  agent: Slug,
  /** NCRONTAB with seconds (`sec min hour day month weekday`), evaluated in UTC. */
  cron: CronSchema,
  enabled: z.boolean().default(true),
  maxConcurrency: z.number().int().min(1).max(100).default(4),
  input: ScheduleInputSchema,
  variables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().max(4096)).default({}),
});
export type Schedule = z.infer<typeof ScheduleSchema>;

export const SchedulesDocumentSchema = z.strictObject({ schedules: z.array(ScheduleSchema) });

/** Schedules are invalid; lists every problem. A configuration fault, never a caller's. */
export class ScheduleCatalogError extends ProblemListError {
  override readonly name = 'ScheduleCatalogError';
  constructor(problems: readonly string[]) {
    super('schedule_catalog_invalid', 'Invalid schedules', problems);
  }
}

/** Parses a schedules document (YAML or JSON). Throws {@link ScheduleCatalogError} listing every problem. */
export function parseSchedules(text: string, where: string): Schedule[] {
  const fail = (problems: string[]) => new ScheduleCatalogError(problems);
  const { schedules } = parseDocument(text, where, SchedulesDocumentSchema, fail);
  const problems = duplicateIdProblems(
    schedules.map((s) => s.id),
    where,
    'schedule',
  );
  if (problems.length > 0) throw fail(problems);
  return schedules;
}

/** Where the scheduler reads schedules. Read on every firing, so edits apply without a restart. */
export interface ScheduleSource {
  list(): Promise<Schedule[]>;
}

/** Local development: a YAML file (`schedules/schedules.local.yaml`). A missing file means no schedules. */
export class FileScheduleSource implements ScheduleSource {
  constructor(readonly path: string) {}

  async list(): Promise<Schedule[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return [];
      throw new ScheduleCatalogError([`${this.path}: cannot be read: ${(error as Error).message}`]);
    }
    return parseSchedules(text, this.path);
  }
}

/** Azure: one control-plane blob (outside every tenant's data space). A missing blob means no schedules. */
export class BlobScheduleSource implements ScheduleSource {
  constructor(
    readonly blobs: BlobStore,
    readonly path: string,
  ) {}

  async list(): Promise<Schedule[]> {
    const content = await this.blobs.get(this.path);
    return content ? parseSchedules(content.toString('utf8'), this.path) : [];
  }
}

/** A fixed list (tests). */
export class StaticScheduleSource implements ScheduleSource {
  constructor(readonly schedules: readonly Schedule[]) {}

  async list(): Promise<Schedule[]> {
    return [...this.schedules];
  }
}
