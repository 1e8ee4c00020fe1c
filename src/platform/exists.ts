/** Whether `path` exists (any file type); false for any error reaching it. Imports nothing of ours. */
import { stat } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
