/** Process signals for the long-running `ota` commands. */

/**
 * Resolves with the first of `signals` the process receives (listeners removed again). Call it before
 * starting anything, so a signal that arrives during start-up is not lost to the default action.
 */
export function nextSignal(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      for (const s of signals) process.off(s, on);
      resolve(sig);
    };
    for (const s of signals) process.on(s, on);
  });
}
