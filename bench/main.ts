/**
 * `npm run bench [-- --only <section>]`: runs every benchmark section and prints its figures beside
 * their same-run baselines. Method and recorded results: docs/benchmarks.md.
 */
import { formatFigure, type BenchSection } from './harness.js';

const sections: Array<[string, () => Promise<BenchSection>]> = [
  // Each entry: [key, lazy import], so `--only <key>` loads nothing else.
  ['uds', () => import('./uds.js').then((m) => m.section)],
  ['isotp', () => import('./isotp.js').then((m) => m.section)],
  ['flash', () => import('./flash.js').then((m) => m.section)],
  ['channel', () => import('./channel.js').then((m) => m.section)],
  ['diag', () => import('./diag.js').then((m) => m.section)],
  ['update', () => import('./update.js').then((m) => m.section)],
  ['lossy', () => import('./lossy.js').then((m) => m.section)],
];

async function main(): Promise<void> {
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
  console.log(`OTA benchmarks — node ${process.version}, ${new Date().toISOString()}`);
  for (const [key, load] of sections) {
    if (only && key !== only) continue;
    const section = await load();
    console.log(`\n[${key}] ${section.title}`);
    for (const figure of await section.run()) console.log(formatFigure(figure));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
