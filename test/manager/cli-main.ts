// Runs `ota manager …` in a child process for cli.test.ts (main.ts is wired by the lead, not here).
import { Command } from 'commander';
import { registerManager } from '../../src/cli/manager.js';

const program = new Command().name('ota').exitOverride();
registerManager(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`error ${(e as { code?: string }).code ?? ''}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
