/**
 * Where the flash cells and the per-page erase counters live: in memory only, or in files of the
 * ECU's state directory. Files (all under `<dir>/`):
 *
 *   flash.bin        the whole main flash, byte i = address base + i (64 KiB for stm32f103c8)
 *   flash.wear       u32 LE erase count per page (wear), page i at offset 4·i
 *   flash.meta.json  the model (geometry) the files were made for
 *
 * Every program or erase is written through at once with a positional `writeSync` of just the
 * changed bytes (no whole-file rewrite, no cache), so a SIGKILL mid-programming leaves exactly the
 * half-words programmed so far. A new directory is made with the meta and wear files first and
 * `flash.bin` last (atomically), so a crash during creation leaves no half-made flash behind.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../protocol/errors.js';
import { EcuFileError } from './errors.js';
import { writeAt, writeFileAtomic } from './fs-sync.js';
import { checkEcuFlashModel, type EcuFlashModel } from './models.js';

/** The cells and wear counters of one flash, mirrored in memory, persisted by `persistCells`/`persistWear`. */
export interface FlashBacking {
  readonly model: EcuFlashModel;
  /** All cells; index = address − base. Writers change it, then call `persistCells`. */
  readonly cells: Uint8Array;
  /** u32 LE erase count per page (same layout as `flash.wear`). */
  readonly wear: Uint8Array;
  persistCells(offset: number, length: number): void;
  persistWear(page: number): void;
  close(): void;
}

export const FLASH_FILES = { cells: 'flash.bin', wear: 'flash.wear', meta: 'flash.meta.json' } as const;

/** A backing that forgets everything on exit (unit tests, property tests, benchmarks). */
export function memoryBacking(model: EcuFlashModel, initial: Uint8Array): FlashBacking {
  checkEcuFlashModel(model);
  return {
    model,
    cells: Uint8Array.from(initial),
    wear: new Uint8Array((model.size / model.pageSize) * 4),
    persistCells: () => undefined,
    persistWear: () => undefined,
    close: () => undefined,
  };
}

/** FLASH_STATE_CORRUPT naming the file (an `EcuFileError`, so the operator learns which ECU's file). */
function corrupt(path: string, problem: string, cause?: unknown): EcuFileError {
  return new EcuFileError('FLASH_STATE_CORRUPT', path, problem, cause === undefined ? {} : { cause });
}

/** The bytes of `path`; an unreadable file (a directory, no permission) is FLASH_STATE_CORRUPT naming it. */
function readCells(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw corrupt(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  }
}

function sameGeometry(a: EcuFlashModel, b: EcuFlashModel): boolean {
  return a.name === b.name && a.base === b.base && a.size === b.size && a.pageSize === b.pageSize &&
    a.bootloaderSize === b.bootloaderSize;
}

function isModel(v: unknown): v is EcuFlashModel {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.name === 'string' && typeof m.datasheet === 'string' &&
    ['base', 'size', 'pageSize', 'bootloaderSize', 'sramSize'].every((k) => typeof m[k] === 'number');
}

function readMeta(dir: string): EcuFlashModel {
  const path = join(dir, FLASH_FILES.meta);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw corrupt(path, `${FLASH_FILES.meta} is missing or not JSON`, e);
  }
  const model = (parsed as { model?: unknown } | null)?.model;
  if (!isModel(model)) throw corrupt(path, `${FLASH_FILES.meta} does not describe a flash model`);
  try {
    checkEcuFlashModel(model);
  } catch (e) {
    throw corrupt(path, `${FLASH_FILES.meta} describes an impossible flash model`, e);
  }
  return model;
}

/**
 * Opens the flash files in `dir` (creating the directory and a fresh flash from `initial(model)` when
 * there is no `flash.bin`). With `model` given, an existing flash of another geometry is refused with
 * `FLASH_MODEL_MISMATCH`; without it, the stored model is used (the default applies only to new flash).
 */
export function fileBacking(
  dir: string,
  model: EcuFlashModel | undefined,
  fallbackModel: EcuFlashModel,
  initial: (model: EcuFlashModel) => Uint8Array,
): FlashBacking {
  mkdirSync(dir, { recursive: true });
  const cellsPath = join(dir, FLASH_FILES.cells);
  const wearPath = join(dir, FLASH_FILES.wear);
  let active: EcuFlashModel;
  if (existsSync(cellsPath)) {
    active = readMeta(dir);
    if (model !== undefined && !sameGeometry(model, active)) {
      throw new OtaError('FLASH_MODEL_MISMATCH', `flash in ${dir} is a ${active.name}, not a ${model.name}`);
    }
  } else {
    active = model ?? fallbackModel;
    checkEcuFlashModel(active);
    writeFileAtomic(join(dir, FLASH_FILES.meta), JSON.stringify({ format: 1, model: active }, null, 2) + '\n');
    writeFileAtomic(wearPath, new Uint8Array((active.size / active.pageSize) * 4));
    const content = initial(active);
    if (content.length !== active.size) throw corrupt(cellsPath, 'initial flash content has the wrong size');
    writeFileAtomic(cellsPath, content);
  }
  const cells = readCells(cellsPath);
  if (cells.length !== active.size) {
    throw corrupt(cellsPath, `${FLASH_FILES.cells} is ${cells.length} bytes, the ${active.name} has ${active.size}`);
  }
  const wear = readCells(wearPath);
  if (wear.length !== (active.size / active.pageSize) * 4) throw corrupt(wearPath, `${FLASH_FILES.wear} has the wrong size`);

  const cellsFd = openSync(cellsPath, 'r+');
  const wearFd = openSync(wearPath, 'r+');
  let open = true;
  return {
    model: active,
    cells,
    wear,
    persistCells: (offset, length) => writeAt(cellsFd, cells, offset, length),
    persistWear: (page) => writeAt(wearFd, wear, page * 4, 4),
    close: () => {
      if (!open) return;
      open = false;
      closeSync(cellsFd);
      closeSync(wearFd);
    },
  };
}
