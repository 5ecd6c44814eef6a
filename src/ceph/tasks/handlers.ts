// The one list of the task engine's handlers: every action a task record can name, registered by CephClient
// before it runs any task — so a process runs every action whatever HTTP routes it serves (a replica without the
// snapshot routes once backed off rollbacks as an unknown action). Each handler does its Ceph work through its
// run's own client (ctx.session, runner-clients.ts). To add an action: write its handler next to the concept it
// changes (copy.ts, trash-tasks.ts, …) and register it here.
import { registerImageImport } from '../content/import.js';
import { registerImageCopy } from '../copy.js';
import { registerObjectMapRebuild } from '../image-features.js';
import { registerImageShrink } from '../image-shrink.js';
import { registerMigrationTasks } from '../migration-start.js';
import { registerSnapshotTasks } from '../snapshot-tasks.js';
import { registerSparsify } from '../sparsify.js';
import { registerNamespacePurge } from '../namespace-purge.js';
import type { TaskEngine } from './engine.js';
import { registerTrashTasks } from '../trash-tasks.js';
import { registerScheduleTasks } from '../schedules/tasks.js';
import type { Schedules } from '../schedules/index.js';

export function registerTaskHandlers(tasks: TaskEngine, schedules: Schedules): void {
  registerTrashTasks(tasks); // image.remove, trash.remove, trash.purge
  registerImageShrink(tasks); // image.shrink
  registerObjectMapRebuild(tasks); // image.object-map-rebuild
  registerImageCopy(tasks); // image.copy
  registerImageImport(tasks); // image.import (the cleanup of an import whose process died)
  registerSnapshotTasks(tasks); // snapshot.rollback, image.flatten
  registerSparsify(tasks); // image.sparsify
  registerMigrationTasks(tasks); // image.migration-execute, image.migration-commit, image.migration-abort
  registerNamespacePurge(tasks); // namespace.purge
  registerScheduleTasks(tasks, schedules.emit); // schedule.snapshot, schedule.trash-purge
}
