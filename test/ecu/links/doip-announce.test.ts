// The DoIP entity's vehicle announcements at start-up (ISO 13400-2: A_DoIP_Announce_Wait 0–500 ms, then
// A_DoIP_Announce_Num = 3 announcements A_DoIP_Announce_Interval = 500 ms apart), on a fake clock, received
// by a real UDP socket on 127.0.0.1. Every wait is bounded; every server and socket is closed in `finally`.
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { decodeDoipMessage, DOIP_PAYLOAD_TYPE, encodeDoipMessage, readDoipHeader } from '../../../src/protocol/doip/index.js';
import { isOtaError } from '../../../src/protocol/errors.js';
import type { DoipServer, DoipServerEvent, DoipServerOptions } from '../../../src/ecu/links/doip-server.js';
import { ENGINE, startTestServer } from './doip-helpers.js';

const VIN = 'WOTA0000000000042';
const EID = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x10);

/** A tester listening on 127.0.0.1 (ephemeral port) for announcements. */
async function listener(): Promise<{ socket: Socket; port: number; heard: Buffer[] }> {
  const socket = createSocket('udp4');
  const heard: Buffer[] = [];
  socket.on('message', (bytes) => heard.push(bytes));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, heard };
}

/** Waits (real time, bounded) until `heard` holds `n` datagrams; then a little longer to catch extra ones. */
async function heardCount(heard: Buffer[], n: number, waitMs = 1_000): Promise<number> {
  const deadline = Date.now() + waitMs;
  while (heard.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30));
  return heard.length;
}

async function withAnnouncingServer(options: Partial<DoipServerOptions>, run: (server: DoipServer, clock: FakeClock, tester: Awaited<ReturnType<typeof listener>>) => Promise<void>): Promise<void> {
  const tester = await listener();
  const clock = new FakeClock(0);
  let server: DoipServer | undefined;
  try {
    server = await startTestServer({ clock, udp: { vin: VIN, eid: EID }, ...options, announce: options.announce === false ? false : { address: '127.0.0.1', port: tester.port, random: () => 0.5, ...options.announce } });
    await run(server, clock, tester);
  } finally {
    await server?.close();
    tester.socket.close();
  }
}

describe('DoIP vehicle announcements at start-up (ISO 13400-2)', () => {
  it('sends 3 vehicle announcements (0x0004: VIN, logical address, EID, GID, further action 0x00), the first after A_DoIP_Announce_Wait, then every 500 ms', async () => {
    const events: DoipServerEvent[] = [];
    await withAnnouncingServer({ onEvent: (e) => events.push(e) }, async (_server, clock, tester) => {
      await clock.advanceAsync(249); // random 0.5 × 500 ms = 250 ms
      assert.equal(await heardCount(tester.heard, 1, 100), 0, 'nothing before A_DoIP_Announce_Wait');
      await clock.advanceAsync(1);
      assert.equal(await heardCount(tester.heard, 1), 1);
      await clock.advanceAsync(499);
      assert.equal(await heardCount(tester.heard, 2, 100), 1, 'not before A_DoIP_Announce_Interval');
      await clock.advanceAsync(1);
      assert.equal(await heardCount(tester.heard, 2), 2);
      await clock.advanceAsync(500);
      assert.equal(await heardCount(tester.heard, 3), 3);
      await clock.advanceAsync(10_000);
      assert.equal(await heardCount(tester.heard, 4, 100), 3, 'A_DoIP_Announce_Num = 3, then silence');
      for (const bytes of tester.heard) {
        const header = readDoipHeader(bytes);
        assert.equal(header.payloadType, DOIP_PAYLOAD_TYPE.vehicleAnnouncement);
        assert.equal(header.protocolVersion, 0x02);
        const m = decodeDoipMessage(bytes);
        assert.equal(m.type, 'vehicleAnnouncement');
        if (m.type !== 'vehicleAnnouncement') return;
        assert.equal(m.vin, VIN);
        assert.equal(m.logicalAddress, ENGINE);
        assert.deepEqual([...m.eid], [...EID]);
        assert.deepEqual([...m.gid], [...EID]);
        assert.equal(m.furtherAction, 0x00);
      }
      const told = events.filter((e) => e.kind === 'announcement');
      assert.deepEqual(told.map((e) => (e.kind === 'announcement' ? [e.n, e.count, e.to] : [])), [[1, 3, `127.0.0.1:${tester.port}`], [2, 3, `127.0.0.1:${tester.port}`], [3, 3, `127.0.0.1:${tester.port}`]]);
    });
  });

  it('A_DoIP_Announce_Wait is random in 0–500 ms (random 0 → at once, 0.999 → 499 ms)', async () => {
    await withAnnouncingServer({ announce: { random: () => 0 } }, async (_server, clock, tester) => {
      await clock.advanceAsync(0);
      assert.equal(await heardCount(tester.heard, 1), 1);
    });
    await withAnnouncingServer({ announce: { random: () => 0.999 } }, async (_server, clock, tester) => {
      await clock.advanceAsync(498);
      assert.equal(await heardCount(tester.heard, 1, 100), 0);
      await clock.advanceAsync(1);
      assert.equal(await heardCount(tester.heard, 1), 1);
    });
  });

  it('count and interval are configurable', async () => {
    await withAnnouncingServer({ announce: { count: 2, intervalMs: 100, random: () => 0 } }, async (_server, clock, tester) => {
      await clock.advanceAsync(100);
      assert.equal(await heardCount(tester.heard, 2), 2);
      await clock.advanceAsync(1_000);
      assert.equal(await heardCount(tester.heard, 3, 100), 2);
    });
  });

  it('announce: false sends none, and identification requests are still answered', async () => {
    await withAnnouncingServer({ announce: false }, async (server, clock, tester) => {
      await clock.advanceAsync(2_000);
      assert.equal(await heardCount(tester.heard, 1, 100), 0);
      tester.socket.send(encodeDoipMessage({ type: 'vehicleIdentificationRequest' }), server.address.port, '127.0.0.1');
      assert.equal(await heardCount(tester.heard, 1), 1);
      assert.equal(decodeDoipMessage(tester.heard[0] as Buffer).type, 'vehicleAnnouncement');
    });
  });

  it('a server closed before A_DoIP_Announce_Wait sends none', async () => {
    const tester = await listener();
    const clock = new FakeClock(0);
    try {
      const server = await startTestServer({ clock, udp: { vin: VIN, eid: EID }, announce: { address: '127.0.0.1', port: tester.port, random: () => 0.5 } });
      await server.close();
      await clock.advanceAsync(2_000);
      assert.equal(await heardCount(tester.heard, 1, 100), 0);
    } finally {
      tester.socket.close();
    }
  });

  for (const [what, announce] of [
    ['an address that is not an IP address', { address: 'tester.local' }],
    ['an IPv6 address for an IPv4 entity', { address: '::1' }],
    ['port 0', { address: '127.0.0.1', port: 0 }],
    ['count 0', { address: '127.0.0.1', count: 0 }],
  ] as const) {
    it(`refuses ${what} with DOIP_ANNOUNCE_CONFIG`, async () => {
      let started: DoipServer | undefined;
      await assert.rejects(
        (async () => {
          started = await startTestServer({ udp: { vin: VIN, eid: EID }, announce });
        })(),
        (e: unknown) => isOtaError(e) && e.code === 'DOIP_ANNOUNCE_CONFIG',
      );
      await started?.close(); // only if it wrongly started
    });
  }
});
