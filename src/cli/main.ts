#!/usr/bin/env node
/**
 * The `ota` command. The CLI is the only place that wires parts together (ARCHITECTURE.md §6).
 * Exit status: 0 success, 1 a refusal or failure with a stable code (printed), 2 a usage error.
 */
import { Command, CommanderError } from 'commander';
import { isOtaError } from '../protocol/errors.js';
import { escapeControls } from '../protocol/text.js';
import { registerDecode } from './decode.js';
import { registerUp } from './up.js';
import { registerPki } from './pki.js';
import { registerFirmware } from './firmware.js';
import { registerEcu } from './ecu.js';
import { registerManager } from './manager.js';
import { registerFleet } from './fleet.js';
import { registerDiag } from './diag.js';
import { registerShell } from './shell.js';
import { registerVehicle } from './vehicle.js';
import { registerBroker } from './broker.js';
import { registerFlash } from './flash.js';
import { registerJobs } from './jobs.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ota')
    .description('OTA Service Manager: secure firmware updates and remote diagnostics for vehicle ECUs')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  registerDecode(program);
  registerUp(program);
  registerPki(program);
  registerFirmware(program);
  registerEcu(program);
  registerManager(program);
  registerFleet(program);
  registerDiag(program);
  registerShell(program);
  registerVehicle(program);
  registerBroker(program);
  registerFlash(program);
  registerJobs(program);
  return program;
}

/**
 * Print an error as one line a person can act on, and return the exit status it maps to. The message may
 * quote a vehicle, a file or the manager: its control characters (LF too) are escaped.
 */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    return err.exitCode === 0 ? 0 : 2;
  }
  if (isOtaError(err)) {
    process.stderr.write(`error ${escapeControls(err.code)}: ${escapeControls(err.message)}\n`);
    return 1;
  }
  process.stderr.write(`error: ${escapeControls(err instanceof Error ? err.message : String(err))}\n`);
  return 1;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

await main();
