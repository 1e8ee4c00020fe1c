// The update agent's side of slow and flaky links (docs/update-flow.md, "Flow control"): acknowledgements
// when the chunks pause (the manager keeps fewer than window/2 in flight on a slow link), and a download
// resumed by the gateway itself on a new session, with an update.accept nobody asked for. A real TLS
// broker, a scripted manager, a virtual ECU (rig.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../../src/gateway/index.js';
import { bitmapFromBase64 } from '../../../src/protocol/ota/update-messages.js';
import { until } from '../harness.js';
import { isAccept, isAck, makeOffer, makeRelease, startGateway, tempIn, TestEcu, updateFixture, UpdateManager, type Release, type UpdateFixture } from './rig.js';

describe('update agent on a slow link', () => {
  let fx: UpdateFixture;
  let ecu: TestEcu;
  let gw: Gateway;
  let manager: UpdateManager;
  let release: Release;

  before(async () => {
    fx = await updateFixture();
    ecu = new TestEcu(fx);
    manager = await new UpdateManager(fx.f, fx.broker.url).start();
    gw = await startGateway(fx, ecu, tempIn(fx, 'gateway'), { update: { window: 16 }, helloRequestIntervalMs: 50 });
    await until(() => manager.established > 0, 10_000, 'the first session');
    release = makeRelease(fx, { version: '2.0.0', counter: 2, size: 10 * 512, seed: 7 }); // 10 chunks of 512 B
  });
  after(async () => {
    await gw.close();
    await manager.stop();
    ecu.close();
    await fx.close();
  });

  const chunk = (i: number): Uint8Array => release.image.subarray(i * 512, (i + 1) * 512);

  it('acknowledges the chunks received once they pause (ackIdleMs), far below window/2', async () => {
    const offer = makeOffer(fx, release, { jobId: 'job-idle', chunkSize: 512 });
    await manager.send(offer);
    const accept = await manager.next(isAccept('job-idle'), 10_000);
    assert.equal(accept.window, 16);
    for (const i of [0, 1, 2]) await manager.sendChunk('job-idle', i, chunk(i));
    // window/2 = 8 chunks would be the first acknowledgement without the idle rule. (On a loaded machine
    // the three may arrive further apart than ackIdleMs: then each pause has its own ack.)
    await until(() => manager.received.some((m) => m.type === 'update.ack' && m.jobId === 'job-idle' && m.next === 3 && m.received === 3), 5000, 'an ack of the 3 chunks');
    const acks = manager.received.filter(isAck('job-idle'));
    assert.ok(acks.every((a) => a.have === undefined && a.next === a.received && a.received <= 3));
    for (const a of acks) manager.received.splice(manager.received.indexOf(a), 1);
  });

  it('resumes an open download by itself on a new session: update.accept with what it holds, no offer needed', async () => {
    const sessions = manager.established;
    await manager.helloRequest(); // a new handshake, as after a reconnect; the download stays open
    await until(() => manager.established > sessions, 10_000, 'the new session');
    const resumed = await manager.next(isAccept('job-idle'), 5000);
    assert.equal(resumed.window, 16);
    const have = bitmapFromBase64(resumed.have, 10);
    assert.equal(have[0], 0b0000_0111, 'chunks 0..2 held');
    assert.equal(have[1], 0);
    // Streaming goes on under the new session without a re-offer.
    for (let i = 3; i < 10; i++) await manager.sendChunk('job-idle', i, chunk(i));
    await until(() => manager.received.some((m) => m.type === 'update.ack' && m.jobId === 'job-idle' && m.next === 10 && m.received === 10), 10_000, 'the final ack');
    assert.equal(gw.stats.updates.offers, 1, 'offered once');
  });
});
