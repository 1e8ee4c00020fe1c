// The end-to-end suite with `ota up`'s embedded broker (aes-256-gcm, the default suite).
import { connectedSystemSuite } from './suite.js';

connectedSystemSuite({
  name: 'embedded broker',
  suite: 'aes-256-gcm',
  start: () => Promise.resolve({ upArgs: [], stop: () => Promise.resolve() }),
});
