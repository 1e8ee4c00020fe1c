/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against a real system:
 * embedded TLS broker, manager (serving web/dist on its API port), one simulated vehicle with virtual
 * engine and body ECUs. Opens the URL `ota up` prints (`/#token=…`), reads the fleet, runs diagnostics
 * from the console (DTCs, VIN, a negative response), checks the log, runs an update job, and shows the
 * 401 message for a wrong token. Screenshots go to /tmp/ota-dashboard-*.png.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { applicationImage, ensureDashboardBuilt, startSystem, type RunningSystem } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium) — the dashboard browser test is skipped`;
const UI_TIMEOUT_MS = 15_000;

describe('web dashboard in chromium', { skip, timeout: 120_000 }, () => {
  let sys: RunningSystem;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    await ensureDashboardBuilt();
    sys = await startSystem();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    page = await context.newPage();
    // Script errors and CSP violations fail the run (checked in the last test).
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
  });
  after(async () => {
    await browser?.close();
    await sys?.close();
  });

  describe('fleet', () => {
    it('opens from /#token=…, drops the token from the address bar and shows the vehicle online with its ECU versions', async () => {
      await page.goto(`${sys.manager.apiUrl}/#token=${sys.token}`);
      const row = page.locator(`tr[data-vehicle="${sys.vin}"]`);
      await row.getByText('Online', { exact: true }).waitFor();
      assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
      await row.getByText('Established').waitFor();
      const text = await row.innerText();
      assert.match(text, /engine/);
      assert.match(text, /body/);
      assert.match(text, /1\.0\.0-factory/, 'application version of the factory image');
      assert.match(await page.locator('.conn').innerText(), /Connected/);
      await page.screenshot({ path: '/tmp/ota-dashboard-fleet.png', fullPage: true });
    });
  });

  describe('vehicle console', () => {
    it('opens the vehicle with its ECU inventory', async () => {
      await page.getByRole('link', { name: sys.vin }).click();
      await page.getByRole('heading', { name: 'ECU inventory' }).waitFor();
      assert.equal(new URL(page.url()).pathname, `/vehicles/${sys.vin}`);
      const inventory = await page.getByTestId('ecu-table').innerText();
      assert.match(inventory, /engine/);
      assert.match(inventory, /stm32f103c8/);
    });

    it('reads DTCs of the engine ECU and shows them decoded with descriptions and status bits', async () => {
      await page.getByRole('radio', { name: /engine/ }).check();
      await page.getByRole('button', { name: /Read DTCs/ }).click();
      const result = page.getByTestId('diag-result');
      await result.locator('.result-title', { hasText: 'Positive response' }).waitFor();
      const table = result.locator('.dtc-table');
      await table.waitFor();
      const text = await table.innerText();
      for (const dtc of ['P0001-00', 'P0100-00', 'C0035-00', 'B0024-00', 'U0100-00']) assert.match(text, new RegExp(dtc), dtc);
      assert.match(text, /Mass or volume air flow circuit/);
      assert.match(text, /warning indicator requested/, 'U0100 status 0xAF has bit 7');
      await page.screenshot({ path: '/tmp/ota-dashboard-vehicle.png', fullPage: true });
    });

    it('sends a raw 22 F1 90 and shows the VIN', async () => {
      await page.getByLabel('Raw request (hex)').fill('22 F1 90');
      await page.getByLabel('Raw request (hex)').press('Enter');
      const result = page.getByTestId('diag-result');
      await result.locator('.result-service', { hasText: 'ReadDataByIdentifier' }).waitFor();
      await result.locator('.did-value', { hasText: 'ZZSVECU' }).waitFor();
      const vin = await result.locator('.did-value').innerText();
      assert.equal(vin.trim(), (sys.vin.toUpperCase().replace(/[^A-Z0-9]/g, '') + '0'.repeat(17)).slice(0, 17));
    });

    it('sends 85 05 and highlights the negative response with its NRC name', async () => {
      await page.getByLabel('Raw request (hex)').fill('85 05');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      const nrc = page.getByTestId('nrc');
      await nrc.waitFor();
      // ControlDTCSetting needs the extended session: ISO 14229-1 → NRC 0x7F in the default session.
      assert.match(await nrc.innerText(), /NRC 0x7F/);
      assert.equal(await nrc.locator('.nrc-name').innerText(), 'serviceNotSupportedInActiveSession');
      await page.screenshot({ path: '/tmp/ota-dashboard-vehicle-nrc.png', fullPage: true });
    });

    it('refuses a request that is not hex before sending it', async () => {
      await page.getByLabel('Raw request (hex)').fill('22 G1');
      await page.getByLabel('Raw request (hex)').press('Enter');
      await page.getByText('"G1" is not hex.').waitFor();
      assert.equal(await page.getByLabel('Raw request (hex)').getAttribute('aria-invalid'), 'true');
    });

    it('keeps this session’s requests in the history, newest first', async () => {
      const rows = page.getByTestId('history').locator('tbody tr');
      assert.equal(await rows.count(), 3);
      assert.match(await rows.nth(0).innerText(), /85 05/);
      assert.match(await rows.nth(2).innerText(), /19 02 FF/);
    });
  });

  describe('diagnostic log', () => {
    it('lists the console’s requests with actor api:dashboard and the NRC by name', async () => {
      await page.getByRole('link', { name: 'Diagnostic log' }).click();
      const log = page.getByTestId('diag-log');
      await log.getByText('serviceNotSupportedInActiveSession').waitFor();
      const text = await log.innerText();
      assert.match(text, /api:dashboard/);
      assert.match(text, /19 02 FF/);
      assert.match(text, /22 F1 90/);
    });
  });

  describe('firmware and jobs', () => {
    it('starts an update of the engine ECU and follows it to done at 100 %', async () => {
      await sys.addRelease('1.1.0', 1, applicationImage(8 * 1024, 11));
      await page.getByRole('link', { name: 'Firmware & jobs' }).click();
      await page.getByTestId('firmware-table').getByText('1.1.0').waitFor();
      await page.getByLabel('Vehicle', { exact: true }).selectOption(sys.vin);
      await page.getByLabel('ECU', { exact: true }).selectOption('engine');
      await page.getByLabel('Firmware', { exact: true }).selectOption({ label: '1.1.0 · counter 1 · 8.0 KiB' });
      await page.getByRole('button', { name: 'Check (dry run)' }).click();
      await page.getByText('Dry run: engine on').waitFor();
      await page.getByRole('button', { name: 'Start job' }).click();
      const row = page.getByTestId('jobs-table').locator('tbody tr').first();
      await row.locator('.badge', { hasText: 'done' }).waitFor({ timeout: 60_000 });
      assert.equal(await row.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
      assert.match(await row.innerText(), /installed 1\.1\.0/);
      await page.screenshot({ path: '/tmp/ota-dashboard-jobs.png', fullPage: true });
    });
  });

  describe('authentication', () => {
    it('says what to do when the token is wrong, and recovers with the right one pasted', async () => {
      const other = await context.browser()!.newContext({ viewport: { width: 1360, height: 700 } });
      try {
        const p = await other.newPage();
        p.setDefaultTimeout(UI_TIMEOUT_MS);
        await p.goto(`${sys.manager.apiUrl}/#token=${'f'.repeat(64)}`);
        await p.getByText('Token missing or wrong: open the URL printed by ota up').waitFor();
        assert.match(await p.locator('.conn').innerText(), /Not authorized/);
        await p.screenshot({ path: '/tmp/ota-dashboard-401.png' });
        await p.getByLabel('API token').fill(sys.token);
        await p.getByRole('button', { name: 'Use token' }).click();
        await p.locator(`tr[data-vehicle="${sys.vin}"]`).getByText('Online', { exact: true }).waitFor();
        assert.equal(await p.getByText('Token missing or wrong').count(), 0);
      } finally {
        await other.close();
      }
    });

    it('had no script error or CSP violation on the way', () => {
      assert.deepEqual(problems, []);
    });
  });
});
