// placeholder, filled in below
import type { CephSession } from '../connection.js';
import { ImportError, type ImportLimits, type ImportResult, type ImportSource } from './import.js';

export async function importDiff(_session: CephSession, _spec: string, _name: string, _src: ImportSource, _limits: ImportLimits,
  _signal: AbortSignal): Promise<ImportResult & { size: number }> {
  throw new ImportError('INVALID_STREAM', 'not yet');
}
