/**
 * The HTTP API bearer token: 32 random bytes as hex in `<data>/manager/api-token` (mode 0600), made at
 * first start and kept after. Compared in constant time (SHA-256 of both sides, then timingSafeEqual,
 * so neither the content nor the length of the expected token leaks through timing).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ManagerError } from '../errors.js';

const TOKEN_FORM = /^[0-9a-f]{64}$/;

/** Read the token at `file`, or create it (0600) if there is none. MGR_CONFIG if the file is not a token. */
export async function ensureApiToken(file: string): Promise<string> {
  return (await openApiToken(file)).token;
}

/** ensureApiToken, and whether this call made the token (first start: the one time it may be shown). */
export async function openApiToken(file: string): Promise<{ token: string; created: boolean }> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const fresh = randomBytes(32).toString('hex');
  try {
    await writeFile(file, fresh + '\n', { flag: 'wx', mode: 0o600 });
    return { token: fresh, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const token = (await readFile(file, 'utf8')).trim();
  if (!TOKEN_FORM.test(token)) throw new ManagerError('MGR_CONFIG', `${file} does not hold a 64-hex-digit API token`);
  // A token readable by others is no secret: tighten it rather than refuse to start.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return { token, created: false };
}

/** Constant-time check of a presented token against the expected one. */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, if it has that form. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m?.[1];
}
