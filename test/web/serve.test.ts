/**
 * registerDashboard (src/manager/http/dashboard.ts) on a bare Fastify app with a token hook registered
 * after it, as server.ts does: static files with their content types and cache policy, index.html for
 * page paths, no way out of the directory, the API prefix left to the API, and the "not built" page.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerDashboard } from '../../src/manager/http/dashboard.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request: the path goes on the wire exactly as given (fetch would normalize `..`). */
function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.end();
  });
}

/** An app like the manager's: the dashboard first, then a token check on everything else. */
async function startApp(dir: string): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false });
  registerDashboard(app, { dir });
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.authorization !== 'Bearer right') await reply.code(401).send({ error: { code: 'UNAUTHORIZED' } });
  });
  app.get('/api/v1/things', () => ({ things: [] }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as AddressInfo).port };
}

describe('registerDashboard', () => {
  let root: string;
  let dist: string;
  let app: FastifyInstance;
  let port: number;
  const INDEX = '<!doctype html><title>dash</title><script type="module" src="/assets/index-abc123.js"></script>';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-dash-'));
    dist = join(root, 'dist');
    await mkdir(join(dist, 'assets'), { recursive: true });
    await writeFile(join(dist, 'index.html'), INDEX);
    await writeFile(join(dist, 'assets', 'index-abc123.js'), 'console.log("dash");');
    await writeFile(join(dist, 'assets', 'index-abc123.css'), 'body{}');
    await writeFile(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(dist, '.secret'), 'hidden');
    await writeFile(join(root, 'outside.txt'), 'outside the dashboard');
    ({ app, port } = await startApp(dist));
  });
  after(async () => {
    await app.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('files', () => {
    it('serves index.html at / with a CSP, nosniff and no-cache, without a token', async () => {
      const r = await get(port, '/');
      assert.equal(r.status, 200);
      assert.equal(r.body, INDEX);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
      assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    });

    it('serves hashed assets with their content type and an immutable cache policy', async () => {
      const js = await get(port, '/assets/index-abc123.js');
      assert.equal(js.status, 200);
      assert.equal(js.body, 'console.log("dash");');
      assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(js.headers['content-length'], String(js.body.length));
      const css = await get(port, '/assets/index-abc123.css?v=1');
      assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
      const svg = await get(port, '/favicon.svg');
      assert.equal(svg.headers['content-type'], 'image/svg+xml');
      assert.equal(svg.headers['cache-control'], 'no-cache');
    });

    it('answers 304 to a matching If-None-Match, and HEAD with headers only', async () => {
      const first = await get(port, '/assets/index-abc123.js');
      const etag = String(first.headers['etag']);
      assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      const again = await get(port, '/assets/index-abc123.js', { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.equal(again.body, '');
      const head = await get(port, '/', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers['content-length'], String(INDEX.length));
    });
  });

  describe('page paths', () => {
    it('answers index.html for any path without an extension (the dashboard routes in the browser)', async () => {
      for (const path of ['/vehicles/WVWZZZ1KZ8W000123', '/diag-log', '/firmware/', '/vehicles/a%20b']) {
        const r = await get(port, path);
        assert.equal(r.status, 200, path);
        assert.equal(r.body, INDEX, path);
      }
    });

    it('answers 404 for a missing file with an extension', async () => {
      for (const path of ['/assets/missing.js', '/favicon.ico', '/robots.txt']) {
        const r = await get(port, path);
        assert.equal(r.status, 404, path);
        assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      }
    });
  });

  describe('containment', () => {
    it('never serves a file outside the directory, whatever the encoding', async () => {
      for (const path of ['/../outside.txt', '/assets/../../outside.txt', '/%2e%2e/outside.txt', '/%2E%2E%2Foutside.txt', '/assets/%2e%2e/%2e%2e/outside.txt']) {
        const r = await get(port, path);
        assert.notEqual(r.body, 'outside the dashboard', path);
        assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
      }
    });

    it('refuses dotfiles, NUL, backslashes and malformed escapes', async () => {
      assert.equal((await get(port, '/.secret')).status, 404);
      assert.equal((await get(port, '/%2esecret')).status, 404);
      assert.equal((await get(port, '/index.html%00.js')).status, 400);
      assert.equal((await get(port, '/..%5coutside.txt')).status, 400);
      assert.equal((await get(port, '/%E0%A4%A')).status, 400);
    });
  });

  describe('the API prefix', () => {
    it('leaves /api and /api/… to the API and its token check', async () => {
      assert.equal((await get(port, '/api/v1/things')).status, 401);
      assert.equal((await get(port, '/api')).status, 401);
      assert.equal((await get(port, '/api/v1/no-such-route')).status, 401);
      const ok = await get(port, '/api/v1/things', { headers: { authorization: 'Bearer right' } });
      assert.equal(ok.status, 200);
      assert.deepEqual(JSON.parse(ok.body), { things: [] });
    });

    it('leaves other methods than GET and HEAD to the API', async () => {
      assert.equal((await get(port, '/', { method: 'POST' })).status, 401);
      assert.equal((await get(port, '/index.html', { method: 'DELETE' })).status, 401);
    });
  });

  describe('when web/dist is missing', () => {
    it('answers page paths with a page saying to run npm run build, and assets with 404', async () => {
      const empty = await startApp(join(root, 'no-such-dist'));
      try {
        const page = await get(empty.port, '/');
        assert.equal(page.status, 503);
        assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
        assert.match(page.body, /npm run build/);
        assert.equal((await get(empty.port, '/vehicles/X')).status, 503);
        assert.equal((await get(empty.port, '/assets/index.js')).status, 404);
        assert.equal((await get(empty.port, '/api/v1/things')).status, 401);
      } finally {
        await empty.app.close();
      }
    });
  });
});
