/**
 * Putting a verified image on the ECU: the UDS flash sequence (`flashEcu`, ARCHITECTURE §3) run alone
 * with the ECU (diagnostics pause), retried once on a timeout or link failure, and — when the gateway
 * resumes an interrupted flash or retries one — a probe first: an ECU that already runs the manifest's
 * version is not flashed again (its bootloader would refuse the same release counter twice, and the
 * erase would leave it without an application).
 */
import type { Clock } from '../../protocol/clock.js';
import { isOtaError } from '../../protocol/errors.js';
import type { EcuInventory } from '../../protocol/ota/messages.js';
import type { UpdatePhase } from '../../protocol/ota/update-messages.js';
import { RESET_TYPE } from '../../protocol/uds/index.js';
import type { Manifest } from '../../security/firmware/index.js';
import type { EcuPort } from '../ecu-port.js';
import { FLASH_ERROR, flashEcu } from '../uds/flash.js';
import { FLASH_TO_UPDATE_PHASE } from './status.js';

export interface InstallContext {
  port: EcuPort;
  secret: Uint8Array;
  clock: Clock;
  /** Live progress: the update phase and its percent. */
  progress(phase: UpdatePhase, percent: number): void;
  /** An inventory entry read while the ECU is reserved (the gateway cannot read it then). */
  noteInventory(entry: EcuInventory): void;
  /** Flash attempts on FLASH_TIMEOUT / FLASH_LINK (≥ 1). */
  attempts: number;
  /** How long the ECU may take to answer after a reset. */
  rebootTimeoutMs: number;
  /** Why the ECU is reserved (shown to diagnostic requests that get GW_BUSY). */
  reason: string;
  /** The CRL (DER) the gateway holds, handed to the bootloader before it checks the manifest. */
  crl?: Uint8Array;
}

export interface InstallInput {
  image: Uint8Array;
  signedManifest: Uint8Array;
  manifest: Manifest;
  /** Probe the ECU before the first attempt (resuming an interrupted flash). */
  probeFirst: boolean;
}

/** Failures worth another attempt: the ECU did not answer in time, or the link broke. */
const TRANSIENT: ReadonlySet<string> = new Set([FLASH_ERROR.TIMEOUT, FLASH_ERROR.LINK]);

/**
 * Installs `image` on the ECU of `ctx.port` and resolves with the version DID 0xF189 reports afterwards
 * (= the manifest's); `alreadyInstalled` when the probe found it running. Rejects with the FlashError of
 * the last attempt.
 */
export function installImage(ctx: InstallContext, input: InstallInput): Promise<{ version: string; alreadyInstalled: boolean }> {
  return ctx.port.exclusive(ctx.reason, async () => {
    for (let attempt = 1; ; attempt++) {
      if (input.probeFirst || attempt > 1) {
        if (await runsVersion(ctx, input.manifest.version)) return { version: input.manifest.version, alreadyInstalled: true };
      }
      try {
        const result = await flashEcu(ctx.port.client, {
          image: { address: input.manifest.loadAddress, data: input.image },
          signedManifest: input.signedManifest,
          secret: ctx.secret,
          ...(ctx.crl === undefined ? {} : { crl: ctx.crl }),
          rebootTimeoutMs: ctx.rebootTimeoutMs,
          onProgress: (phase, done, total) => ctx.progress(FLASH_TO_UPDATE_PHASE[phase], total === 0 ? 100 : Math.floor((done * 100) / total)),
        });
        return { version: result.version, alreadyInstalled: false };
      } catch (e) {
        if (attempt >= ctx.attempts || !(isOtaError(e) && TRANSIENT.has(e.code))) throw e;
      }
    }
  });
}

/**
 * Whether the ECU runs the application `version`. An ECU in its bootloader is reset first: after an
 * interrupted flash that passed routine 0xFF01 it holds a recorded application it has not started yet.
 */
async function runsVersion(ctx: InstallContext, version: string): Promise<boolean> {
  let entry = await ctx.port.inventoryNow();
  if (entry.mode === 'bootloader') {
    await ctx.port.client.reset(RESET_TYPE.hardReset).catch(() => undefined);
    entry = await answerAfterReset(ctx);
  }
  ctx.noteInventory(entry);
  return entry.mode === 'application' && entry.appVersion === version;
}

/** Reads the inventory until the ECU answers (mode no longer unknown) or the reboot time is over. */
async function answerAfterReset(ctx: InstallContext): Promise<EcuInventory> {
  const deadline = ctx.clock.now() + ctx.rebootTimeoutMs;
  for (;;) {
    const entry = await ctx.port.inventoryNow();
    if (entry.mode !== 'unknown' || ctx.clock.now() >= deadline) return entry;
    await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, 50));
  }
}
