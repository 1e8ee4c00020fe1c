// Entry for the process test of `ota vehicle`: a commander program with only registerVehicle (main.ts
// is wired by the lead), exit status 1 with the error code on stderr as main.ts does.
import { Command, CommanderError } from 'commander';
import { isOtaError } from '../../../src/protocol/errors.js';
import { registerVehicle } from '../../../src/cli/vehicle.js';

const program = new Command().name('ota').exitOverride();
registerVehicle(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof CommanderError)) process.stderr.write(isOtaError(e) ? `error ${e.code}: ${e.message}\n` : `error: ${String(e)}\n`);
  process.exitCode = e instanceof CommanderError ? 2 : 1;
}
