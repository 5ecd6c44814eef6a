// Snapshot schedules (pool, namespace, image) and trash purge schedules: bodies and answers.
import { z } from 'zod';

const EVERY = 'the interval: a whole number and a unit s, m, h, d or w (e.g. "1h", "30m", "1d"); at least SCHEDULE_MIN_INTERVAL '
  + '(default 60 s) and at most 366d';
const count = (what: string) => z.number().int().min(0).max(1000).optional().describe(what).meta({ examples: [24] });

export const keepSchema = z.object({
  latest: count('keep the newest n snapshots of this schedule'),
  hourly: count('keep the newest snapshot of each of the newest n hours that have one (in `timezone`)'),
  daily: count('keep the newest snapshot of each of the newest n days that have one'),
  weekly: count('keep the newest snapshot of each of the newest n ISO weeks that have one'),
  monthly: count('keep the newest snapshot of each of the newest n months that have one'),
}).strict().describe('what retention keeps: the union of these sets (at least one count ≥ 1). '
  + 'Only the schedule\'s own snapshots (named `<prefix>-<slot>`) are ever removed, never one with clones or protected.');

const keepOut = z.object({
  latest: z.number().int().optional(), hourly: z.number().int().optional(), daily: z.number().int().optional(),
  weekly: z.number().int().optional(), monthly: z.number().int().optional(),
});

export const snapshotScheduleBody = z.object({
  every: z.string().max(16).describe(EVERY).meta({ examples: ['1h'] }),
  at: z.string().max(8).optional().describe('the time of day the slots are aligned to, HH:MM or HH:MM:SS in `timezone` (default 00:00)').meta({ examples: ['02:30'] }),
  keep: keepSchema,
  prefix: z.string().max(48).optional().describe('the snapshots\' name prefix (default "sched"): a snapshot is named <prefix>-YYYYMMDDTHHMMSSZ, its slot in UTC').meta({ examples: ['sched'] }),
  timezone: z.string().max(64).optional().describe('an IANA time zone for `at` and the retention periods (default UTC)').meta({ examples: ['UTC'] }),
}).strict();

const lastRunSchema = z.object({
  slot: z.string().describe('the slot (UTC)'),
  at: z.string().describe('when it ran'),
  outcome: z.enum(['taken', 'existed', 'skipped', 'failed']),
  snapshot: z.string().optional(),
  taskId: z.string().optional().describe('the task that ran it (GET /api/v1/tasks/{id})'),
  removed: z.array(z.string()).optional().describe('snapshots retention removed in this run'),
  keptWithClones: z.array(z.string()).optional().describe('snapshots retention would have removed but kept: they have clones (or are protected)'),
  error: z.object({ code: z.string(), detail: z.string() }).optional(),
  namespace: z.string().optional(),
  image: z.string().optional(),
});

export const snapshotScheduleSchema = z.object({
  level: z.enum(['pool', 'namespace', 'image']).describe('where it is set; the most specific schedule of an image wins'),
  schedule: z.object({
    every: z.string(), at: z.string().optional(), keep: keepOut, prefix: z.string(), timezone: z.string(),
    since: z.string().describe('when it was set: earlier slots are not taken'),
  }),
  nextSlot: z.string().describe('the start of the next slot; every image runs within spreadSeconds after it (a stable offset per image)'),
  nextRun: z.string().optional().describe('an image\'s schedule: when its next snapshot is taken'),
  spreadSeconds: z.number().int(),
  lastRun: lastRunSchema.optional().describe('the newest run among the images this schedule governs'),
  retentionSkips: z.array(z.object({ namespace: z.string(), image: z.string(), snapshots: z.array(z.string()) }))
    .describe('snapshots retention kept because they have clones, per image (at most 100 images)'),
}).meta({ id: 'SnapshotSchedule' });

export const purgeScheduleBody = z.object({ every: z.string().max(16).describe(EVERY).meta({ examples: ['1d'] }) }).strict();

export const purgeScheduleSchema = z.object({
  level: z.enum(['pool', 'namespace']).describe('the pool\'s schedule covers every namespace; a namespace\'s own wins there'),
  schedule: z.object({ every: z.string(), since: z.string() }),
  nextRun: z.string(),
  lastRun: z.object({
    slot: z.string(), taskId: z.string(), at: z.string(),
    result: z.object({
      removed: z.number().int(),
      skipped: z.array(z.object({ id: z.string(), name: z.string(), code: z.string(), detail: z.string() }).describe('an entry the purge could not remove, and why')),
    }).optional(),
  }).optional(),
}).meta({ id: 'TrashPurgeSchedule' });
