/**
 * `ota firmware sign|verify`: the release engineer signs an image with the offline release key; anyone
 * holding the fleet CA checks an image against its signed manifest (ARCHITECTURE.md §2.3).
 * `ota firmware add|list|show` talk to the manager's firmware repository (src/manager/README.md);
 * `ota firmware sample` writes a small signed demo application (src/cli/update/sample.ts).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { hexAddress } from '../protocol/firmware/errors.js';
import { IMAGE_FORMATS, detectFormat, readImage, type ImageFormat } from '../protocol/firmware/image.js';
import { toContiguous } from '../protocol/firmware/memory-map.js';
import { FirmwareRefusal } from '../security/firmware/errors.js';
import { signManifest, type Manifest } from '../security/firmware/manifest.js';
import { verifyUpdate } from '../security/firmware/verify.js';
import { trustStoreFromPem } from '../security/pki/verify.js';
import { processIo, type CliIo } from './pki.js';
import { registerRepositoryCommands } from './update/firmware-commands.js';
import { escapeControls } from '../protocol/text.js';

/** Erased STM32 flash reads 0xFF: gaps between an image's records are signed as 0xFF. */
const GAP_FILL = 0xff;

/** A uint32 written in decimal or 0x-hex. */
export function parseUint32(value: string): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(value) ? parseInt(value.slice(2), 16) : /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new InvalidArgumentError('expected a 32-bit unsigned number (decimal or 0x hex)');
  return n;
}

/** The image file as contiguous bytes from its first address, gaps filled with 0xFF. */
async function loadImage(path: string, format: ImageFormat | undefined, base: number | undefined): Promise<{ format: ImageFormat; address: number; data: Uint8Array }> {
  const content = new Uint8Array(await readFile(path));
  const fmt = format ?? detectFormat(path, content);
  const { map } = readImage(content, fmt, base === undefined ? {} : { base });
  const { address, data } = toContiguous(map, { fill: GAP_FILL });
  return { format: fmt, address, data };
}

function describe(m: Manifest): string {
  return escapeControls(`${m.hardwareId} ${m.version} counter ${m.counter}, ${m.length} bytes at ${hexAddress(m.loadAddress)} (${m.format}), sha256 ${m.sha256}`);
}

/**
 * Adds `ota firmware sign|verify`. Enables positional options on `program` so that `--version`
 * after `firmware sign` is the firmware version, not the root command's `--version` flag.
 */
export function registerFirmware(program: Command, io: CliIo = processIo): void {
  program.enablePositionalOptions();
  const fw = program.command('firmware').description('signed firmware: sign an image with a release key, verify an image against its manifest');

  fw.command('sign')
    .description('write the signed manifest of <image> (Intel HEX, S-record or raw binary with --base)')
    .argument('<image>', 'image file')
    .requiredOption('--key <file>', 'release private key (PKCS#8 PEM, from `ota pki issue --role release`)')
    .requiredOption('--cert <file>', 'release certificate (PEM)')
    .requiredOption('--version <semver>', 'firmware version, SemVer (e.g. 1.2.0)')
    .requiredOption('--hardware <id>', 'hardware id the image is for (e.g. stm32f103c8)')
    .requiredOption('--counter <n>', 'release counter, above every earlier release (uint32)', parseUint32)
    .option('--base <address>', 'load address of a raw binary image', parseUint32)
    .addOption(new Option('--format <format>', 'image format (default: from the file name and content)').choices(IMAGE_FORMATS))
    .option('--out <file>', 'signed manifest file (default <image>.manifest)')
    .action(async (image: string, opts: { key: string; cert: string; version: string; hardware: string; counter: number; base?: number; format?: ImageFormat; out?: string }) => {
      const loaded = await loadImage(image, opts.format, opts.base);
      const manifest: Manifest = {
        hardwareId: opts.hardware,
        version: opts.version,
        counter: opts.counter,
        length: loaded.data.length,
        sha256: createHash('sha256').update(loaded.data).digest('hex'),
        loadAddress: loaded.address,
        format: loaded.format,
      };
      const signer = { keyPem: await readFile(opts.key, 'utf8'), certPem: await readFile(opts.cert, 'utf8') };
      const signed = signManifest(manifest, signer);
      const out = opts.out ?? `${image}.manifest`;
      await writeFile(out, signed);
      io.out(`signed ${describe(manifest)}\nwrote ${out} (${signed.length} bytes)\n`);
    });

  fw.command('verify')
    .description('check <image> against its signed manifest and the fleet CA (exit 1 with the refusal code otherwise)')
    .argument('<image>', 'image file')
    .requiredOption('--manifest <file>', 'signed manifest (as written by `ota firmware sign`)')
    .requiredOption('--ca <file>', 'fleet CA certificate (PEM)')
    .option('--crl <file>', 'fleet CRL (PEM); a revoked release key is refused')
    .option('--json', 'print the verified manifest as JSON')
    .action(async (image: string, opts: { manifest: string; ca: string; crl?: string; json?: boolean }) => {
      const trust = await trustStoreFromPem(await readFile(opts.ca, 'utf8'), opts.crl === undefined ? undefined : await readFile(opts.crl, 'utf8'));
      const signedManifest = new Uint8Array(await readFile(opts.manifest));
      // Authenticate the manifest before its loadAddress is used to read a raw binary.
      const { manifest } = await verifyUpdate({ signedManifest, expect: {}, trust });
      const loaded = await loadImage(image, undefined, manifest.loadAddress);
      if (loaded.address !== manifest.loadAddress) {
        throw new FirmwareRefusal('FW_ADDRESS_MISMATCH', `image starts at ${hexAddress(loaded.address)}, the manifest says ${hexAddress(manifest.loadAddress)}`);
      }
      const ok = await verifyUpdate({ signedManifest, image: loaded.data, expect: {}, trust });
      const digest = ok.manifestDigest;
      if (opts.json) {
        io.out(JSON.stringify({ ok: true, manifest: ok.manifest, manifestDigest: digest, signer: { cn: ok.releaseSigner.cn, serial: ok.releaseSigner.serial } }, null, 2) + '\n');
        return;
      }
      io.out(`OK ${describe(ok.manifest)}\nsigned by release key '${ok.releaseSigner.cn}' (serial ${ok.releaseSigner.serial}); manifest digest ${digest}\n`);
    });

  registerRepositoryCommands(fw, io);
}
