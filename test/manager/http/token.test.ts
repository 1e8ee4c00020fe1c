import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearerToken, ensureApiToken, openApiToken, tokenMatches } from '../../../src/manager/http/token.js';
import { httpError } from '../../../src/manager/http/errors.js';
import { DiagTimeoutError, GatewayDiagError, ManagerError } from '../../../src/manager/errors.js';

describe('ensureApiToken', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-token-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates 32 random bytes as hex with mode 0600 at first start, and reads the same token after', async () => {
    const file = join(dir, 'manager', 'api-token');
    const t = await ensureApiToken(file);
    assert.match(t, /^[0-9a-f]{64}$/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await readFile(file, 'utf8')).trim(), t);
    assert.equal(await ensureApiToken(file), t);
    assert.notEqual(await ensureApiToken(join(dir, 'other', 'api-token')), t);
  });

  it('says whether this call made the token (the one start that may show it)', async () => {
    const file = join(dir, 'made', 'api-token');
    const first = await openApiToken(file);
    assert.equal(first.created, true);
    assert.deepEqual(await openApiToken(file), { token: first.token, created: false });
  });

  it('tightens a token file readable by others to 0600', async () => {
    const file = join(dir, 'loose');
    await writeFile(file, 'ab'.repeat(32));
    await chmod(file, 0o644);
    await ensureApiToken(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('refuses a file that is not a token with MGR_CONFIG', async () => {
    const file = join(dir, 'bad');
    await writeFile(file, 'password123\n', { mode: 0o600 });
    await assert.rejects(ensureApiToken(file), { code: 'MGR_CONFIG' });
  });
});

describe('tokenMatches / bearerToken', () => {
  const t = 'ab'.repeat(32);
  it('accepts only the exact token, whatever the length presented', () => {
    assert.equal(tokenMatches(t, t), true);
    for (const p of ['', t.slice(0, 63), t + '0', 'AB'.repeat(32), 'x'.repeat(1000)]) assert.equal(tokenMatches(t, p), false, p);
  });
  it('takes the token from an Authorization: Bearer header only', () => {
    assert.equal(bearerToken(`Bearer ${t}`), t);
    assert.equal(bearerToken(`bearer  ${t}`), t);
    for (const h of [undefined, t, `Basic ${t}`, 'Bearer', `Bearer ${t} extra`]) assert.equal(bearerToken(h), undefined, String(h));
  });
});

describe('httpError', () => {
  it('maps codes to status at the edge only', () => {
    const cases: Array<[unknown, number, string]> = [
      [new ManagerError('VEHICLE_UNKNOWN', 'x'), 404, 'VEHICLE_UNKNOWN'],
      [new ManagerError('ECU_UNKNOWN', 'x'), 404, 'ECU_UNKNOWN'],
      [new ManagerError('VEHICLE_OFFLINE', 'x'), 409, 'VEHICLE_OFFLINE'],
      [new ManagerError('MGR_BAD_INPUT', 'x'), 400, 'MGR_BAD_INPUT'],
      [new ManagerError('BROKER_DISCONNECTED', 'x'), 503, 'BROKER_DISCONNECTED'],
      [new DiagTimeoutError('x'), 504, 'DIAG_TIMEOUT'],
      [new GatewayDiagError('UDS_TIMEOUT', 'x'), 504, 'UDS_TIMEOUT'],
      [new GatewayDiagError('GW_UNKNOWN_ECU', 'x'), 404, 'GW_UNKNOWN_ECU'],
      [new GatewayDiagError('GW_BUSY', 'x'), 503, 'GW_BUSY'],
      [new GatewayDiagError('ISOTP_TIMEOUT_BS', 'x'), 502, 'ISOTP_TIMEOUT_BS'],
      [new Error('secret detail'), 500, 'INTERNAL'],
    ];
    for (const [e, status, code] of cases) {
      const r = httpError(e);
      assert.deepEqual([r.status, r.body.error.code], [status, code]);
    }
    assert.equal(httpError(new Error('secret detail')).body.error.message, 'internal error');
  });
});
