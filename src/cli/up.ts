/**
 * `ota up`: the all-in-one start (broker, manager, dashboard, simulated fleet). The connected system is
 * not built yet, so this says so honestly and lists what can be run today, instead of pretending.
 */
import type { Command } from 'commander';

export const UP_NOT_YET_BUILT = [
  'ota up: the connected system (embedded broker, manager, dashboard, simulated fleet) is not built yet.',
  'What runs today:',
  '  ota decode <uds|isotp|doip|ihex|srec> <hex|file>   decode bytes from a trace or an image file',
  '  ota pki init|issue|revoke|list --dir <dir>         the fleet PKI',
  '  ota firmware sign|verify                           signed firmware manifests',
  'See README.md for the full command reference.',
].join('\n');

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start broker, manager, dashboard and a simulated fleet (not built yet: explains what runs today)')
    .action(() => {
      process.stdout.write(UP_NOT_YET_BUILT + '\n');
    });
}
