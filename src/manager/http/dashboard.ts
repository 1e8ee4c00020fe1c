/**
 * The web dashboard on the API's port: the built files of web/ (`npm run build` → web/dist) at `/`,
 * index.html for any other page path (the dashboard routes in the browser), and a short page saying to
 * build it when web/dist is missing. Everything under the API prefix is left to the API.
 *
 * The dashboard is public static code and holds no data; every API call it makes carries the bearer
 * token, which the browser keeps from the URL fragment `#token=…` (never sent to a server). So these
 * files are served without the token, from an onRequest hook that must be registered before the API's
 * token check: it answers GET/HEAD for non-API paths and ends the request there.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface DashboardOptions {
  /** The built dashboard (default: web/dist of this package, found from this module's location). */
  dir?: string;
  /** Paths equal to or under this prefix belong to the API (default `/api`). */
  apiPrefix?: string;
}

/** Content types by extension; anything else is served as bytes (and `nosniff` keeps it that way). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Nothing is fetched from elsewhere: scripts, styles and API calls come from this origin only. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite names files under assets/ by content hash: they never change, so browsers may keep them. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OTA Service Manager</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>The manager is running, but it found no built dashboard (<code>web/dist</code>).
Run <code>npm run build</code> in the OTA Service Manager directory, then reload this page.</p>
<p>The HTTP API is available at <code>/api/v1</code> (bearer token in <code>&lt;data&gt;/manager/api-token</code>).</p>
</body></html>
`;

/** web/dist of the package this module belongs to (from source or from dist/, whichever runs). */
export function defaultDashboardDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'web', 'dist');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve('web', 'dist');
}

type Resolved = { kind: 'file'; file: string; size: number; mtimeMs: number } | { kind: 'not-found' } | { kind: 'not-built' } | { kind: 'bad-request' };

/**
 * The file for a URL path under `root`: the file itself, else index.html for page paths (no extension
 * in the last segment). Dot segments, dotfiles, NUL and backslashes are refused before touching the disk,
 * and the resolved path must stay inside `root`.
 */
export async function resolveDashboardFile(root: string, urlPath: string): Promise<Resolved> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'bad-request' };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { kind: 'bad-request' };
  const segments = decoded.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s.startsWith('.'))) return { kind: 'not-found' };
  const base = resolve(root);
  const candidate = resolve(base, ...segments);
  if (candidate !== base && !candidate.startsWith(base + sep)) return { kind: 'not-found' };

  const asFile = await statFile(candidate);
  if (asFile !== undefined) return { kind: 'file', file: candidate, ...asFile };
  const last = segments[segments.length - 1] ?? '';
  if (extname(last) !== '') return { kind: 'not-found' };
  const index = join(base, 'index.html');
  const indexStat = await statFile(index);
  return indexStat === undefined ? { kind: 'not-built' } : { kind: 'file', file: index, ...indexStat };
}

async function statFile(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

function commonHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
}

/** Serve one resolved file with its content type, validators and cache policy. */
async function sendFile(req: FastifyRequest, reply: FastifyReply, root: string, found: Extract<Resolved, { kind: 'file' }>): Promise<void> {
  const ext = extname(found.file).toLowerCase();
  const etag = `W/"${found.size.toString(16)}-${Math.floor(found.mtimeMs).toString(16)}"`;
  const immutable = found.file.startsWith(join(resolve(root), 'assets') + sep);
  commonHeaders(reply)
    .header('content-type', CONTENT_TYPES[ext] ?? 'application/octet-stream')
    .header('cache-control', immutable ? IMMUTABLE : 'no-cache')
    .header('etag', etag)
    .header('last-modified', new Date(found.mtimeMs).toUTCString());
  if (ext === '.html') reply.header('content-security-policy', CSP);
  if (req.headers['if-none-match'] === etag) {
    reply.code(304).send();
    return;
  }
  // A buffer (not a stream): the reply is complete when send() returns, before any later onRequest hook.
  const body = await readFile(found.file);
  reply.code(200).header('content-length', body.length).send(body);
}

/**
 * Serve the dashboard on `app` for GET/HEAD requests outside the API prefix. Register it before the
 * API's token check (that hook then never sees these requests); other methods fall through to the API.
 */
export function registerDashboard(app: FastifyInstance, opts: DashboardOptions = {}): void {
  const root = opts.dir ?? defaultDashboardDir();
  const apiPrefix = opts.apiPrefix ?? '/api';
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const path = req.url.split('?')[0] ?? '/';
    if (path === apiPrefix || path.startsWith(`${apiPrefix}/`)) return;
    const found = await resolveDashboardFile(root, path);
    switch (found.kind) {
      case 'file':
        await sendFile(req, reply, root, found);
        break;
      case 'not-built':
        commonHeaders(reply).code(503).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT_PAGE);
        break;
      case 'bad-request':
        commonHeaders(reply).code(400).header('content-type', 'text/plain; charset=utf-8').send('bad request path\n');
        break;
      default:
        commonHeaders(reply).code(404).header('content-type', 'text/plain; charset=utf-8').send('not found\n');
    }
    return reply;
  });
}
