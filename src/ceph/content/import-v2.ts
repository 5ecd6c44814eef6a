// placeholder, filled in below
import type { TaskEngine } from '../tasks/engine.js';
import { ImportError, type ImportLimits, type ImportResult, type ImportSource } from './import.js';

export async function importExportV2(_tasks: TaskEngine, _spec: string, _name: string, _src: ImportSource, _limits: ImportLimits): Promise<ImportResult & { size: number }> {
  throw new ImportError('INVALID_STREAM', 'not yet');
}
