/**
 * `ota pki init|issue|revoke|crl|list --dir <dir>`: the fleet CA and the certificates of brokers, managers,
 * vehicles and release keys (ARCHITECTURE.md §2.1). The directory layout is in src/security/pki/store.ts.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ROLES, type Role } from '../security/pki/roles.js';
import { DEFAULT_CA_NAME, initPki, issueToDir, listPki, revoke, rewriteCrl } from '../security/pki/store.js';
import { table, writeOut } from './terminal.js';

/** Where a command writes its report (stdout by default; tests capture it). */
export interface CliIo {
  out(text: string): void;
}
export const processIo: CliIo = { out: writeOut };

/** A positive decimal number of days. */
export function parseDays(value: string): number {
  if (!/^[1-9]\d{0,4}$/.test(value)) throw new InvalidArgumentError('expected a number of days (1-36500)');
  return Number(value);
}

export function registerPki(program: Command, io: CliIo = processIo): void {
  const pki = program.command('pki').description('the fleet PKI: CA, role certificates, revocation (ECDSA P-256)');

  pki
    .command('init')
    .description('create the fleet CA (ca.pem, ca.key), an empty CRL and the index in <dir>')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--name <name>', 'CA common name', DEFAULT_CA_NAME)
    .option('--days <days>', 'CA validity in days (default 3650)', parseDays)
    .option('--force', 'replace an existing CA (every certificate it issued stops verifying)')
    .action(async (opts: { dir: string; name: string; days?: number; force?: boolean }) => {
      const index = await initPki(opts.dir, { name: opts.name, validityDays: opts.days, force: opts.force });
      io.out(`created fleet CA '${index.ca.name}' in ${opts.dir} (serial ${index.ca.serial}, expires ${index.ca.notAfter})\n`);
    });

  pki
    .command('issue')
    .description('issue a certificate for a broker, manager, vehicle (CN = vehicle id) or release key')
    .requiredOption('--dir <dir>', 'PKI directory')
    .addOption(new Option('--role <role>', 'certificate role').choices(ROLES).makeOptionMandatory())
    .requiredOption('--name <name>', 'certificate name and CN (the vehicle id for a vehicle)')
    .option('--san <san...>', 'subject alternative names: DNS names or IP addresses (DNS:/IP: prefixes allowed)')
    .option('--days <days>', 'validity in days (default 365, never beyond the CA)', parseDays)
    .option('--force', 're-issue an existing name; the old certificate is revoked as superseded')
    .action(async (opts: { dir: string; role: Role; name: string; san?: string[]; days?: number; force?: boolean }) => {
      const entry = await issueToDir(opts.dir, { role: opts.role, name: opts.name, san: opts.san, validityDays: opts.days, force: opts.force });
      io.out(`issued ${entry.role} certificate '${entry.name}' (serial ${entry.serial}, expires ${entry.notAfter}): ${opts.dir}/${entry.name}.pem, ${opts.dir}/${entry.name}.key\n`);
    });

  pki
    .command('revoke')
    .description('revoke the certificate <name> and rewrite crl.pem')
    .requiredOption('--dir <dir>', 'PKI directory')
    .requiredOption('--name <name>', 'certificate name')
    .action(async (opts: { dir: string; name: string }) => {
      const entry = await revoke(opts.dir, opts.name);
      io.out(`revoked ${entry.role} certificate '${entry.name}' (serial ${entry.serial}); ${opts.dir}/crl.pem updated\n`);
    });

  pki
    .command('crl')
    .description('write crl.pem again from the index (every revoked certificate): restores a lost or damaged CRL')
    .requiredOption('--dir <dir>', 'PKI directory')
    .action(async (opts: { dir: string }) => {
      const index = await rewriteCrl(opts.dir);
      const revoked = index.certificates.filter((c) => c.revoked).length;
      io.out(`wrote ${opts.dir}/crl.pem (CRL number ${index.crlNumber}, ${revoked} revoked)\n`);
    });

  pki
    .command('list')
    .description('list the CA and every certificate issued: name, role, expiry, revoked')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--json', 'the index as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const index = await listPki(opts.dir);
      if (opts.json) {
        io.out(JSON.stringify(index, null, 2) + '\n');
        return;
      }
      const rows = [
        ['NAME', 'ROLE', 'SERIAL', 'EXPIRES', 'STATUS'],
        [index.ca.name, 'ca', index.ca.serial, index.ca.notAfter, 'trust anchor'],
        ...index.certificates.map((c) => [c.name, c.role, c.serial, c.notAfter, c.revoked ? `revoked ${c.revokedAt ?? ''} ${c.reason ?? ''}`.trim() : 'valid']),
      ];
      io.out(table(rows) + '\n');
    });
}
