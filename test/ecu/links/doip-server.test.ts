// The DoIP entity over real TCP sockets on 127.0.0.1 (ephemeral ports), driven by a raw tester that writes
// bytes and reads decoded messages. Every wait is bounded; every server is closed in `finally`.
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDoipMessage, encodeDoipMessage, type DoipMessage } from '../../../src/protocol/doip/index.js';
import type { DoipServer, DoipServerEvent } from '../../../src/ecu/links/doip-server.js';
import { BODY, ENGINE, RawTester, TESTER, pendingHandler, startTestServer } from './doip-helpers.js';

const READ_DID_F180 = Uint8Array.of(0x22, 0xf1, 0x80);

async function withServer(
  run: (server: DoipServer) => Promise<void>,
  options: Parameters<typeof startTestServer>[0] = {},
): Promise<void> {
  const server = await startTestServer(options);
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

function diag(userData: Uint8Array, targetAddress = ENGINE, sourceAddress = TESTER): DoipMessage {
  return { type: 'diagnosticMessage', sourceAddress, targetAddress, userData };
}

/** Asserts `message` is of `type` and returns it narrowed. */
function expectType<T extends DoipMessage['type']>(message: DoipMessage, type: T): Extract<DoipMessage, { type: T }> {
  assert.equal(message.type, type, `expected ${type}, got ${message.type}`);
  return message as Extract<DoipMessage, { type: T }>;
}

describe('DoIP server: routing activation', () => {
  it('activates a tester in 0x0E00–0x0FFF with response code 0x10 and the entity address', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.send({ type: 'routingActivationRequest', sourceAddress: TESTER, activationType: 0x00 });
      const response = expectType(await tester.next(), 'routingActivationResponse');
      assert.equal(response.responseCode, 0x10);
      assert.equal(response.testerAddress, TESTER);
      assert.equal(response.entityAddress, ENGINE);
      assert.equal(response.protocolVersion, 0x02);
      tester.destroy();
    });
  });

  it('accepts activation type 0x01 (WWH-OBD)', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(TESTER, 0x01), 0x10);
      tester.destroy();
    });
  });

  it('refuses a source address outside the tester range with 0x00 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(0x1234), 0x00);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('refuses an unsupported activation type with 0x06 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(TESTER, 0x02), 0x06);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('confirms the same address again on its socket, refuses another one with 0x02 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(TESTER), 0x10);
      assert.equal(await tester.activate(TESTER), 0x10);
      assert.equal(await tester.activate(0x0e01), 0x02);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('refuses an address active on a socket that answers the alive check with 0x03 (and keeps the old one)', async () => {
    await withServer(async (server) => {
      const first = await RawTester.connect(server.address.port);
      first.answerAliveChecks = TESTER;
      assert.equal(await first.activate(), 0x10);
      const second = await RawTester.connect(server.address.port);
      assert.equal(await second.activate(), 0x03);
      assert.equal(await second.closesWithin(1_000), true);
      expectType(await first.next(), 'aliveCheckRequest');
      first.send(diag(READ_DID_F180));
      expectType(await first.next(), 'diagnosticAck');
      first.destroy();
    });
  });

  it('gives the address to the new socket when the old one misses the alive check, and closes the old one', async () => {
    await withServer(
      async (server) => {
        const first = await RawTester.connect(server.address.port);
        assert.equal(await first.activate(), 0x10);
        const second = await RawTester.connect(server.address.port);
        const started = Date.now();
        assert.equal(await second.activate(), 0x10);
        assert.ok(Date.now() - started >= 90, 'the server waited for T_TCP_Alive_Check');
        assert.equal(await first.closesWithin(1_000), true);
        second.send(diag(READ_DID_F180));
        expectType(await second.next(), 'diagnosticAck');
        second.destroy();
      },
      { timers: { aliveCheckMs: 100 } },
    );
  });

  it('refuses a tester with 0x01 when all sockets are registered and alive, and closes it', async () => {
    await withServer(
      async (server) => {
        const a = await RawTester.connect(server.address.port);
        const b = await RawTester.connect(server.address.port);
        a.answerAliveChecks = 0x0e00;
        b.answerAliveChecks = 0x0e01;
        assert.equal(await a.activate(0x0e00), 0x10);
        assert.equal(await b.activate(0x0e01), 0x10);
        const c = await RawTester.connect(server.address.port);
        assert.equal(await c.activate(0x0e02), 0x01);
        assert.equal(await c.closesWithin(1_000), true);
        a.destroy();
        b.destroy();
      },
      { maxSockets: 2, timers: { aliveCheckMs: 200 } },
    );
  });

  it('frees the socket of a registered tester that misses the alive check for a new tester', async () => {
    await withServer(
      async (server) => {
        const a = await RawTester.connect(server.address.port);
        const b = await RawTester.connect(server.address.port);
        a.answerAliveChecks = 0x0e00; // b stays silent
        assert.equal(await a.activate(0x0e00), 0x10);
        assert.equal(await b.activate(0x0e01), 0x10);
        const c = await RawTester.connect(server.address.port);
        assert.equal(await c.activate(0x0e02), 0x10);
        assert.equal(await b.closesWithin(1_000), true);
        assert.equal(a.isClosed, false);
        a.destroy();
        c.destroy();
      },
      { maxSockets: 2, timers: { aliveCheckMs: 100 } },
    );
  });
});

describe('DoIP server: diagnostic messages', () => {
  it('NACKs a diagnostic message before routing activation with 0x02 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.send(diag(READ_DID_F180));
      const nack = expectType(await tester.next(), 'diagnosticNack');
      assert.equal(nack.nackCode, 0x02);
      assert.equal(nack.sourceAddress, ENGINE);
      assert.equal(nack.targetAddress, TESTER);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('NACKs a source address other than the activated one with 0x02 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(), 0x10);
      tester.send(diag(READ_DID_F180, ENGINE, 0x0e01));
      assert.equal(expectType(await tester.next(), 'diagnosticNack').nackCode, 0x02);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('NACKs an unknown target address with 0x03 and keeps the socket open', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(), 0x10);
      tester.send(diag(READ_DID_F180, 0x0042));
      const nack = expectType(await tester.next(), 'diagnosticNack');
      assert.equal(nack.nackCode, 0x03);
      assert.equal(nack.sourceAddress, 0x0042);
      tester.send(diag(READ_DID_F180, BODY));
      expectType(await tester.next(), 'diagnosticAck');
      const response = expectType(await tester.next(), 'diagnosticMessage');
      assert.equal(response.sourceAddress, BODY);
      tester.destroy();
    });
  });

  it('sends the positive ACK (0x8002) first, then the UDS response as 0x8001 from the ECU to the tester', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(), 0x10);
      tester.send(diag(READ_DID_F180));
      const ack = expectType(await tester.next(), 'diagnosticAck');
      assert.deepEqual([ack.sourceAddress, ack.targetAddress, ack.ackCode], [ENGINE, TESTER, 0x00]);
      const response = expectType(await tester.next(), 'diagnosticMessage');
      assert.deepEqual([response.sourceAddress, response.targetAddress], [ENGINE, TESTER]);
      assert.deepEqual([...response.userData], [0x62, 0xf1, 0x80]);
      tester.destroy();
    });
  });

  it('forwards 0x78 response-pending messages, then the final response', async () => {
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.activate(), 0x10);
        tester.send(diag(Uint8Array.of(0x31, 0x01, 0xff, 0x00)));
        expectType(await tester.next(), 'diagnosticAck');
        const seen: number[][] = [];
        for (let i = 0; i < 3; i++) seen.push([...expectType(await tester.next(), 'diagnosticMessage').userData]);
        assert.deepEqual(seen, [
          [0x7f, 0x31, 0x78],
          [0x7f, 0x31, 0x78],
          [0x71, 0x01, 0xff, 0x00],
        ]);
        tester.destroy();
      },
      { targets: new Map([[ENGINE, pendingHandler(2)]]) },
    );
  });

  it('serves requests to one ECU one at a time, in order, each ACKed on arrival', async () => {
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.activate(), 0x10);
        // One write, so both requests are in the server's hands before the first is answered.
        tester.write(Uint8Array.from([...encodeDoipMessage(diag(Uint8Array.of(0x10, 0x03))), ...encodeDoipMessage(diag(Uint8Array.of(0x3e, 0x00)))]));
        const types: string[] = [];
        const data: number[][] = [];
        for (let i = 0; i < 6; i++) {
          const m = await tester.next();
          types.push(m.type);
          if (m.type === 'diagnosticMessage') data.push([...m.userData]);
        }
        assert.deepEqual(types.slice(0, 2), ['diagnosticAck', 'diagnosticAck']);
        assert.deepEqual(data, [[0x7f, 0x10, 0x78], [0x50, 0x03], [0x7f, 0x3e, 0x78], [0x7e, 0x00]]);
        tester.destroy();
      },
      { targets: new Map([[ENGINE, pendingHandler(1)]]) },
    );
  });

  it('answers a handler that throws with 7F SID 10 generalReject', async () => {
    const events: DoipServerEvent[] = [];
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.activate(), 0x10);
        tester.send(diag(READ_DID_F180));
        expectType(await tester.next(), 'diagnosticAck');
        assert.deepEqual([...expectType(await tester.next(), 'diagnosticMessage').userData], [0x7f, 0x22, 0x10]);
        tester.destroy();
      },
      {
        targets: new Map([[ENGINE, { handle: () => Promise.reject(new Error('internal fault')) }]]),
        onEvent: (e) => events.push(e),
      },
    );
    assert.ok(events.some((e) => e.kind === 'handlerError'));
  });
});

describe('DoIP server: TCP stream handling', () => {
  it('reassembles messages written one byte at a time', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      const bytes = [
        ...encodeDoipMessage({ type: 'routingActivationRequest', sourceAddress: TESTER, activationType: 0 }),
        ...encodeDoipMessage(diag(READ_DID_F180)),
      ];
      for (const b of bytes) {
        tester.write(Uint8Array.of(b));
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(expectType(await tester.next(), 'routingActivationResponse').responseCode, 0x10);
      expectType(await tester.next(), 'diagnosticAck');
      assert.deepEqual([...expectType(await tester.next(), 'diagnosticMessage').userData], [0x62, 0xf1, 0x80]);
      tester.destroy();
    });
  });

  it('handles several messages coalesced in one write', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.write(
        Uint8Array.from([
          ...encodeDoipMessage({ type: 'routingActivationRequest', sourceAddress: TESTER, activationType: 0 }),
          ...encodeDoipMessage(diag(READ_DID_F180)),
          ...encodeDoipMessage(diag(Uint8Array.of(0x3e, 0x00), BODY)),
        ]),
      );
      const types = [];
      for (let i = 0; i < 5; i++) types.push((await tester.next()).type);
      assert.equal(types[0], 'routingActivationResponse');
      assert.equal(types.filter((t) => t === 'diagnosticAck').length, 2);
      assert.equal(types.filter((t) => t === 'diagnosticMessage').length, 2);
      tester.destroy();
    });
  });

  it('answers a wrong inverse version (pattern error) with generic NACK 0x00 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      const bytes = encodeDoipMessage({ type: 'entityStatusRequest' });
      bytes[1] = 0x00; // inverse protocol version must be 0xFD for version 0x02
      tester.write(bytes);
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x00);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('refuses protocol version 0x03 with generic NACK 0x00 (the entity speaks 0x02)', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.write(encodeDoipMessage({ type: 'entityStatusRequest', protocolVersion: 0x03 }));
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x00);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });

  it('NACKs an oversize message with 0x02 from its header alone, skips it, and keeps the socket', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      assert.equal(await tester.activate(), 0x10);
      const size = 1_000_000;
      const header = Uint8Array.of(0x02, 0xfd, 0x80, 0x01, ...[size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff]);
      tester.write(header);
      // The NACK arrives before a single payload byte was sent: the server judged the header, buffered nothing.
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x02);
      const chunk = new Uint8Array(64 * 1024).fill(0xaa);
      for (let sent = 0; sent < size; sent += chunk.length) tester.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
      tester.send(diag(READ_DID_F180));
      expectType(await tester.next(5_000), 'diagnosticAck');
      expectType(await tester.next(), 'diagnosticMessage');
      assert.equal(tester.isClosed, false);
      tester.destroy();
    });
  });

  it('NACKs an unknown payload type with 0x01 and keeps the socket', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.write(Uint8Array.of(0x02, 0xfd, 0x12, 0x34, 0, 0, 0, 2, 0xde, 0xad));
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x01);
      assert.equal(await tester.activate(), 0x10);
      tester.destroy();
    });
  });

  it('NACKs a payload type the entity does not take on TCP (a vehicle identification request) with 0x01', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.send({ type: 'vehicleIdentificationRequest' });
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x01);
      assert.equal(await tester.activate(), 0x10);
      tester.destroy();
    });
  });

  it('NACKs a payload length invalid for its type with 0x04 and closes', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.write(Uint8Array.of(0x02, 0xfd, 0x00, 0x07, 0, 0, 0, 1, 0x00)); // alive check request has no payload
      assert.equal(expectType(await tester.next(), 'genericNack').nackCode, 0x04);
      assert.equal(await tester.closesWithin(1_000), true);
    });
  });
});

describe('DoIP server: status, alive check, timers, close', () => {
  it('answers entity status with node type, max and open sockets, max data size', async () => {
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        tester.send({ type: 'entityStatusRequest' });
        const status = expectType(await tester.next(), 'entityStatusResponse');
        assert.deepEqual(
          [status.nodeType, status.maxOpenSockets, status.openSockets, status.maxDataSize],
          [0x00, 3, 1, 4100], // two targets behind one entity: a gateway
        );
        tester.destroy();
      },
      { maxSockets: 3 },
    );
  });

  it('answers the power mode request with 0x01 ready', async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.send({ type: 'powerModeRequest' });
      assert.equal(expectType(await tester.next(), 'powerModeResponse').powerMode, 0x01);
      tester.destroy();
    });
  });

  it("answers a tester's alive check request with the entity address", async () => {
    await withServer(async (server) => {
      const tester = await RawTester.connect(server.address.port);
      tester.send({ type: 'aliveCheckRequest' });
      assert.equal(expectType(await tester.next(), 'aliveCheckResponse').sourceAddress, ENGINE);
      tester.destroy();
    });
  });

  it('closes a socket without routing activation after T_TCP_Initial_Inactivity', async () => {
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.closesWithin(100), false);
        assert.equal(await tester.closesWithin(1_500), true);
      },
      { timers: { initialInactivityMs: 300 } },
    );
  });

  it('closes an activated socket after T_TCP_General_Inactivity, and traffic restarts the timer', async () => {
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.activate(), 0x10);
        for (let i = 0; i < 4; i++) {
          // 4 × 150 ms of traffic outlasts the 300 ms timer only because each message restarts it.
          assert.equal(await tester.closesWithin(150), false);
          tester.send({ type: 'powerModeRequest' });
          expectType(await tester.next(), 'powerModeResponse');
        }
        assert.equal(await tester.closesWithin(1_500), true);
      },
      { timers: { initialInactivityMs: 100, generalInactivityMs: 300 } },
    );
  });

  it('closes cleanly: testers see the close, the port stops accepting', async () => {
    const server = await startTestServer();
    const tester = await RawTester.connect(server.address.port);
    assert.equal(await tester.activate(), 0x10);
    assert.equal(server.openSockets, 1);
    await server.close();
    assert.equal(await tester.closesWithin(1_000), true);
    await assert.rejects(RawTester.connect(server.address.port));
  });

  it('reports connections, activations, requests, responses and closes to onEvent', async () => {
    const events: DoipServerEvent[] = [];
    await withServer(
      async (server) => {
        const tester = await RawTester.connect(server.address.port);
        assert.equal(await tester.activate(), 0x10);
        tester.send(diag(READ_DID_F180));
        await tester.next();
        await tester.next();
        tester.destroy();
        await tester.closed;
        await new Promise((r) => setTimeout(r, 50));
      },
      { onEvent: (e) => events.push(e) },
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ['connected', 'activation', 'request', 'response', 'closed'],
    );
  });
});

describe('DoIP server: UDP vehicle identification', () => {
  it('answers 0x0001, 0x0002 (own EID) and 0x0003 (own VIN) with an announcement, and ignores another EID', async () => {
    const eid = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x10);
    const vin = 'WOTA0000000000042';
    await withServer(
      async (server) => {
        const udp = createSocket('udp4');
        const replies: DoipMessage[] = [];
        udp.on('message', (bytes) => replies.push(decodeDoipMessage(bytes)));
        await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
        const ask = async (message: DoipMessage, expect: number, waitMs = 1_000): Promise<void> => {
          udp.send(encodeDoipMessage(message), server.address.port, '127.0.0.1');
          const deadline = Date.now() + waitMs;
          while (replies.length < expect && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        };
        try {
          await ask({ type: 'vehicleIdentificationRequest', protocolVersion: 0xff }, 1);
          await ask({ type: 'vehicleIdentificationRequestEid', eid }, 2);
          await ask({ type: 'vehicleIdentificationRequestEid', eid: new Uint8Array(6) }, 3, 200); // no answer expected
          await ask({ type: 'vehicleIdentificationRequestVin', vin }, 3);
          assert.equal(replies.length, 3);
          for (const reply of replies) {
            const a = expectType(reply, 'vehicleAnnouncement');
            assert.equal(a.vin, vin);
            assert.equal(a.logicalAddress, ENGINE);
            assert.deepEqual([...a.eid], [...eid]);
            assert.deepEqual([...a.gid], [...eid]);
          }
        } finally {
          udp.close();
        }
      },
      { udp: { vin, eid } },
    );
  });
});

describe('DoIP server: pool of sockets without routing activation', () => {
  it('evicts the oldest socket without activation when a connect would overflow the pool', async () => {
    await withServer(
      async (server) => {
        const first = await RawTester.connect(server.address.port);
        const second = await RawTester.connect(server.address.port);
        assert.equal(await first.closesWithin(100), false);
        const third = await RawTester.connect(server.address.port);
        assert.equal(await first.closesWithin(1_000), true, 'the oldest was evicted');
        assert.equal(await second.closesWithin(100), false);
        assert.equal(await third.activate(), 0x10, 'the newcomer is served');
        for (const t of [second, third]) t.destroy();
      },
      { maxPendingSockets: 2, timers: { initialInactivityMs: 10_000 } },
    );
  });

  it('does not count activated sockets in the pool, nor evict them', async () => {
    await withServer(
      async (server) => {
        const active = await RawTester.connect(server.address.port);
        assert.equal(await active.activate(), 0x10);
        const bare = [await RawTester.connect(server.address.port), await RawTester.connect(server.address.port)];
        assert.equal(await bare[0]?.closesWithin(1_000), true);
        active.send({ type: 'powerModeRequest' });
        expectType(await active.next(), 'powerModeResponse');
        for (const t of [active, ...bare]) t?.destroy();
      },
      { maxPendingSockets: 1, timers: { initialInactivityMs: 10_000 } },
    );
  });

  it('still tells a tester beyond maxSockets 0x01 (all sockets registered) and closes it', async () => {
    await withServer(
      async (server) => {
        const a = await RawTester.connect(server.address.port);
        assert.equal(await a.activate(0x0e01), 0x10);
        const b = await RawTester.connect(server.address.port);
        b.send({ type: 'routingActivationRequest', sourceAddress: 0x0e02, activationType: 0x00 });
        // a answers the alive check: it keeps its socket
        expectType(await a.next(), 'aliveCheckRequest');
        a.send({ type: 'aliveCheckResponse', sourceAddress: 0x0e01 });
        assert.equal(expectType(await b.next(), 'routingActivationResponse').responseCode, 0x01);
        assert.equal(await b.closesWithin(1_000), true);
        a.destroy();
      },
      { maxSockets: 1, maxPendingSockets: 4 },
    );
  });
});
