/**
 * `ota fleet [--json] [--data <dir>]`: the vehicles the manager knows — online state, secure session,
 * channel suite, and each ECU with its application and boot versions — as a table for people or the
 * API's JSON (`{ vehicles: [...] }`) for scripts.
 */
import type { Command } from 'commander';
import type { VehicleView } from '../manager/index.js';
import { resolveDataDir } from '../manager/paths.js';
import { ApiClient } from './api-client.js';
import { processIo, type CliIo } from './pki.js';
import { table } from './terminal.js';

export { table } from './terminal.js';

/** The fleet as a table: one line per ECU, the vehicle's columns on its first line only. */
export function fleetTable(vehicles: readonly VehicleView[]): string {
  const rows: string[][] = [['VEHICLE', 'ONLINE', 'SESSION', 'SUITE', 'ECU', 'APP', 'BOOT', 'MODE']];
  for (const v of vehicles) {
    const head = [v.id, v.online ? 'online' : 'offline', v.approval === 'pending' ? 'pending-approval' : v.session, v.channelSuite ?? '-'];
    const blank = head.map(() => '');
    if (v.ecus.length === 0) rows.push([...head, '-', '-', '-', '-']);
    v.ecus.forEach((e, i) => rows.push([...(i === 0 ? head : blank), e.name, e.appVersion ?? '-', e.bootVersion ?? '-', e.mode]));
  }
  const online = vehicles.filter((v) => v.online).length;
  const reachable = vehicles.filter((v) => v.reachable).length;
  return `${table(rows)}\n${vehicles.length} vehicle${vehicles.length === 1 ? '' : 's'}, ${online} online, ${reachable} with a secure session`;
}

export function registerFleet(program: Command, io: CliIo = processIo): void {
  program
    .command('fleet')
    .description('list the vehicles the manager knows: online state, secure session, ECUs and their versions')
    .option('--data <dir>', 'data directory of the manager (default $OTA_HOME or ./.ota)')
    .option('--json', 'print { vehicles: [...] } as the API returns it')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const vehicles = await client.vehicles();
      io.out(opts.json ? JSON.stringify({ vehicles }, null, 2) + '\n' : fleetTable(vehicles) + '\n');
    });
}
