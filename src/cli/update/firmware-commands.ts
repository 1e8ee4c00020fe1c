/**
 * `ota firmware add|list|show|sample` (the `sign` and `verify` siblings live in ../firmware.ts):
 *
 *   add <image> [--manifest <m>] [--base <addr>] [--format f]   POST /firmware; prints id, version, hardware,
 *                                                              counter; a refusal exits 1 with its code
 *   list [--hardware id] [--json]                              GET /firmware
 *   show <id> [--json]                                         GET /firmware/:id
 *   sample --version 1.1.0 [--counter n] [--out f] [--hardware id] [--size 56K]
 *                                                              a signed demo application (sample.ts)
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { FirmwareRecord } from '../../manager/index.js';
import { resolveDataDir } from '../../manager/paths.js';
import { OtaError } from '../../protocol/errors.js';
import { hexAddress } from '../../protocol/firmware/errors.js';
import { IMAGE_FORMATS, writeImage, type ImageFormat } from '../../protocol/firmware/image.js';
import { signManifest, type Manifest } from '../../security/firmware/manifest.js';
import { ApiClient } from '../api-client.js';
import { usageChecked } from '../diag.js';
import { parseUint32 } from '../firmware.js';
import { table } from '../fleet.js';
import type { CliIo } from '../pki.js';
import { RELEASE_CERT } from '../up/setup.js';
import { addFirmware, findFirmware, listFirmware } from './api.js';
import { counterFromVersion, parseSampleHardware, parseSize, sampleApplication, type SampleOptions } from './sample.js';
import { escapeControls } from '../../protocol/text.js';
import { pathExists } from '../../platform/exists.js';

const DATA_HELP = 'data directory of the manager (default $OTA_HOME or ./.ota)';

/** One line about a firmware record. */
export function describeFirmware(f: FirmwareRecord): string {
  return escapeControls(`${f.hardwareId} ${f.version} counter ${f.counter}, ${f.length} bytes at ${hexAddress(f.loadAddress)} (${f.format})`);
}

/** The firmware as `key value` lines. */
export function firmwareDetails(f: FirmwareRecord): string {
  const rows = [
    ['id', f.id],
    ['manifest digest', f.manifestDigest],
    ['hardware', f.hardwareId],
    ['version', f.version],
    ['counter', String(f.counter)],
    ['length', `${f.length} bytes`],
    ['sha256', f.sha256],
    ['load address', hexAddress(f.loadAddress)],
    ['format', f.format],
    ['signer', `${f.signer.cn} (serial ${f.signer.serial})${f.revoked ? ' REVOKED' : ''}`],
    ['added', `${f.addedAt} by ${f.addedBy}`],
  ];
  return table(rows);
}

/** The repository as a table, newest first. */
export function firmwareTable(list: readonly FirmwareRecord[]): string {
  const rows = [['ID', 'HARDWARE', 'VERSION', 'COUNTER', 'BYTES', 'ADDED', 'SIGNER']];
  for (const f of list) rows.push([f.id, f.hardwareId, f.version, String(f.counter), String(f.length), f.addedAt, f.revoked ? `${f.signer.cn} REVOKED` : f.signer.cn]);
  return `${table(rows)}\n${list.length} firmware release${list.length === 1 ? '' : 's'}`;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new OtaError('CLI_FILE', `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** Uploads `<image>` with its manifest (default `<image>.manifest`); what `ota firmware add` and `ota flash <file>` do. */
export async function uploadFirmware(
  client: ApiClient,
  image: string,
  opts: { manifest?: string; base?: number; format?: ImageFormat },
): Promise<{ firmware: FirmwareRecord; created: boolean }> {
  const manifestPath = opts.manifest ?? `${image}.manifest`;
  const upload = {
    image: await readInput(image, 'image'),
    manifest: await readInput(manifestPath, 'signed manifest (give --manifest)'),
    ...(opts.base === undefined ? {} : { base: opts.base }),
    ...(opts.format === undefined ? {} : { format: opts.format }),
  };
  return addFirmware(client, upload);
}


/** The demo release key `ota up` made in `<data>/pki` (or --key/--cert). Throws CLI_NO_RELEASE_KEY. */
async function releaseSigner(dataDir: string, key?: string, cert?: string): Promise<{ keyPem: string; certPem: string; keyPath: string }> {
  const keyPath = key ?? join(dataDir, 'pki', `${RELEASE_CERT}.key`);
  const certPath = cert ?? join(dataDir, 'pki', `${RELEASE_CERT}.pem`);
  if (!(await pathExists(keyPath)) || !(await pathExists(certPath))) {
    throw new OtaError('CLI_NO_RELEASE_KEY', `no release key at ${keyPath} / ${certPath}: run \`ota up\` (or \`ota up --init-only\`) on this data directory first, or give --key and --cert`);
  }
  return { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8'), keyPath };
}

interface SampleCliOptions {
  version: string;
  counter?: number;
  out?: string;
  hardware: SampleOptions['hardware'];
  size: number;
  data?: string;
  key?: string;
  cert?: string;
  json?: boolean;
}

/** Adds add, list, show and sample to the `ota firmware` command. */
export function registerRepositoryCommands(fw: Command, io: CliIo): void {
  fw.command('add')
    .description("upload <image> and its signed manifest to the manager's repository (checked: release signature, length, SHA-256, address)")
    .argument('<image>', 'image file (Intel HEX, S-record, or raw binary)')
    .option('--manifest <file>', 'signed manifest (default <image>.manifest)')
    .option('--base <address>', 'load address of a raw binary image (default: the manifest says)', parseUint32)
    .addOption(new Option('--format <format>', 'image format (default: the manifest says)').choices(IMAGE_FORMATS))
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print { created, firmware } as JSON')
    .action(async (image: string, opts: { manifest?: string; base?: number; format?: ImageFormat; data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const { firmware, created } = await uploadFirmware(client, image, opts);
      if (opts.json) return io.out(JSON.stringify({ created, firmware }, null, 2) + '\n');
      io.out(`${created ? 'added' : 'already in the repository:'} firmware ${firmware.id}: ${describeFirmware(firmware)}\n`);
    });

  fw.command('list')
    .description("list the manager's firmware repository, newest first")
    .option('--hardware <id>', 'only releases for this hardware id')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print { firmware: [...] } as the API returns it')
    .action(async (opts: { hardware?: string; data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const firmware = await listFirmware(client, opts.hardware === undefined ? {} : { hardware: opts.hardware });
      io.out(opts.json ? JSON.stringify({ firmware }, null, 2) + '\n' : firmwareTable(firmware) + '\n');
    });

  fw.command('show')
    .description('show one firmware release of the repository')
    .argument('<id>', 'firmware id (16 hex digits) or manifest digest (64)')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the record as JSON')
    .action(async (id: string, opts: { data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const firmware = await findFirmware(client, id);
      if (firmware === undefined) throw new OtaError('FIRMWARE_UNKNOWN', `no firmware '${id}' (list them with \`ota firmware list\`)`);
      io.out(opts.json ? JSON.stringify(firmware, null, 2) + '\n' : firmwareDetails(firmware) + '\n');
    });

  fw.command('sample')
    .description('write a small valid application image (Intel HEX) and its signed manifest, signed with the demo release key of the data directory')
    .requiredOption('--version <semver>', 'firmware version, e.g. 1.1.0')
    .option('--counter <n>', 'release counter (default major·1000000 + minor·1000 + patch of --version)', parseUint32)
    .option('--out <file>', 'image file to write; the manifest goes to <file>.manifest (default sample-<version>.hex)')
    .option('--hardware <id>', 'hardware id (flash model) the image is for', parseSampleHardware, 'stm32f103c8')
    .option('--size <bytes>', 'image size: the application region of the model at most (56K on stm32f103c8)', parseSize, 56 * 1024)
    .option('--data <dir>', 'data directory whose pki/release.key|pem signs (default $OTA_HOME or ./.ota)')
    .option('--key <file>', 'release private key instead of <data>/pki/release.key')
    .option('--cert <file>', 'release certificate instead of <data>/pki/release.pem')
    .option('--json', 'print what was written as JSON')
    .action(async (opts: SampleCliOptions, cmd: Command) => {
      const counter = opts.counter ?? usageChecked(cmd, () => counterFromVersion(opts.version));
      const { address, data } = usageChecked(cmd, () => sampleApplication({ version: opts.version, hardware: opts.hardware, size: opts.size }));
      const signer = await releaseSigner(resolveDataDir(opts.data), opts.key, opts.cert);
      const manifest: Manifest = {
        hardwareId: opts.hardware,
        version: opts.version,
        counter,
        length: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
        loadAddress: address,
        format: 'ihex',
      };
      const signed = signManifest(manifest, signer);
      const out = opts.out ?? `sample-${opts.version}.hex`;
      await writeFile(out, writeImage([{ address, data }], 'ihex', { startAddress: (address + 0x200) | 1 }));
      await writeFile(`${out}.manifest`, signed);
      if (opts.json) return io.out(JSON.stringify({ image: out, manifest: `${out}.manifest`, ...manifest }, null, 2) + '\n');
      io.out(
        `wrote ${out}: sample application ${opts.version} for ${opts.hardware}, ${data.length} bytes at ${hexAddress(address)}, counter ${counter}\n` +
          `wrote ${out}.manifest (signed with ${signer.keyPath})\n` +
          `next: ota firmware add ${out}${opts.data === undefined ? '' : ` --data ${opts.data}`}\n`,
      );
    });
}
