/**
 * End-of-line programming of a simulated ECU: a new virtual ECU leaves the "factory" with a small demo
 * application already in flash and recorded, so it boots into the application and diagnostics work out
 * of the box. This is what a production line does over SWD/JTAG before the ECU is built into a vehicle —
 * not a UDS flash, and no signed manifest is involved: the descriptor is written with release counter 0,
 * so the first signed release (counter ≥ 1) installs over it. Later updates go through the UDS flash
 * sequence and the bootloader's checks like any other.
 *
 * Runs once per ECU state directory: a marker file `factory.json` records it, so an ECU whose
 * application was erased later (an interrupted update, say) stays in its bootloader as it should.
 */
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EcuNvm } from '../../ecu/nvm.js';

/** Version the factory application reports (DID 0xF189). */
export const FACTORY_APP_VERSION = '1.0.0-factory';
/** Marker written into the ECU state directory after end-of-line programming. */
export const FACTORY_MARKER = 'factory.json';

/**
 * The demo application image for an ECU: a Cortex-M vector table (initial SP = top of SRAM, reset
 * handler in the image, Thumb bit set), a banner naming the ECU and version, zero padding to 1 KiB.
 */
export function factoryApplicationImage(nvm: EcuNvm, ecuName: string): { address: number; image: Uint8Array } {
  const model = nvm.flash.model;
  const address = nvm.flash.layout.application.start;
  const image = new Uint8Array(1024);
  const view = new DataView(image.buffer);
  view.setUint32(0, 0x2000_0000 + model.sramSize, true); // initial main stack pointer
  view.setUint32(4, (address + 0x100) | 1, true); // Reset_Handler (Thumb)
  image.set(Buffer.from(`OTA demo application ${FACTORY_APP_VERSION} for ${ecuName}\0`, 'latin1').subarray(0, 200), 0x40);
  image.set([0xfe, 0xe7], 0x100); // Reset_Handler: b . (the demo idles; the simulator models its behaviour)
  return { address, image };
}

/**
 * Programs and records the factory application if this ECU state directory never had one: no marker,
 * no descriptor, never an installed release, application region erased. Returns whether it programmed.
 */
export function factoryProgram(nvm: EcuNvm, stateDir: string, ecuName: string): boolean {
  const marker = join(stateDir, FACTORY_MARKER);
  if (existsSync(marker)) return false;
  const app = nvm.flash.layout.application;
  const pristine = nvm.application.descriptor() === null && nvm.application.installedCounter() === 0 && nvm.flash.isErased(app.start, app.end - app.start);
  if (pristine) {
    const { address, image } = factoryApplicationImage(nvm, ecuName);
    nvm.flash.program(address, image);
    nvm.state.applicationSlot().save({
      application: {
        start: address,
        length: image.length,
        sha256: createHash('sha256').update(image).digest('hex'),
        version: FACTORY_APP_VERSION,
        counter: 0,
        hardwareId: nvm.hardwareId(),
      },
      installedCounter: 0,
    });
  }
  writeFileSync(marker, JSON.stringify({ programmed: pristine, version: pristine ? FACTORY_APP_VERSION : null, at: new Date().toISOString() }, null, 2) + '\n');
  return pristine;
}
