// The gateway's DoIP client against our DoIP entity (and, for the failure paths the entity never takes, a
// hand-written fake entity), over real TCP sockets on 127.0.0.1 with ephemeral ports.
import { createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DoipClient, connectDoipLink } from '../../../src/gateway/links/doip-client.js';
import { DoipStreamReader, encodeDoipMessage, type DoipMessage } from '../../../src/protocol/doip/index.js';
import { isOtaError, type OtaError } from '../../../src/protocol/errors.js';
import { BODY, ENGINE, RawTester, TESTER, pendingHandler, startTestServer } from '../../ecu/links/doip-helpers.js';

/** Resolves with the next `count` responses a link delivers (bounded by `timeoutMs`). */
function collect(link: { onResponse: (l: (r: Uint8Array) => void) => () => void }, count: number, timeoutMs = 2_000): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const seen: number[][] = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`only ${seen.length} of ${count} responses within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = link.onResponse((r) => {
      seen.push([...r]);
      if (seen.length === count) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

function hasCode(code: string, wireCode?: number): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isOtaError(e), `expected an OtaError, got ${String(e)}`);
    assert.equal((e as OtaError).code, code);
    if (wireCode !== undefined) assert.equal((e as OtaError).wireCode, wireCode);
    return true;
  };
}

/** A fake entity: answers routing activation with 0x10, then hands every other message to `onMessage`. */
async function fakeEntity(onMessage: (socket: Socket, m: DoipMessage) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    const reader = new DoipStreamReader();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const event of reader.push(chunk)) {
        if (event.kind !== 'message') continue;
        if (event.message.type === 'routingActivationRequest') {
          socket.write(encodeDoipMessage({ type: 'routingActivationResponse', testerAddress: event.message.sourceAddress, entityAddress: ENGINE, responseCode: 0x10 }));
        } else onMessage(socket, event.message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { server, port: address.port };
}

describe('DoipClient', () => {
  it('activates routing as 0x0E00 and carries 22 F1 80 to the engine and its response back', async () => {
    const server = await startTestServer();
    try {
      const link = await connectDoipLink({ host: '127.0.0.1', port: server.address.port, targetAddress: ENGINE });
      assert.equal(link.client.entityAddress, ENGINE);
      assert.equal(link.client.sourceAddress, TESTER);
      const responses = collect(link, 1);
      await link.send(Uint8Array.of(0x22, 0xf1, 0x80));
      assert.deepEqual(await responses, [[0x62, 0xf1, 0x80]]);
      await link.close();
      assert.equal(link.client.closed, true);
    } finally {
      await server.close();
    }
  });

  it('delivers 0x78 pending responses and the final one, in order', async () => {
    const server = await startTestServer({ targets: new Map([[ENGINE, pendingHandler(2)]]) });
    try {
      const link = await connectDoipLink({ host: '127.0.0.1', port: server.address.port, targetAddress: ENGINE });
      const responses = collect(link, 3);
      await link.send(Uint8Array.of(0x31, 0x01, 0xff, 0x00));
      assert.deepEqual(await responses, [[0x7f, 0x31, 0x78], [0x7f, 0x31, 0x78], [0x71, 0x01, 0xff, 0x00]]);
      await link.close();
    } finally {
      await server.close();
    }
  });

  it('gives each ECU link only its own responses over one connection', async () => {
    const server = await startTestServer();
    try {
      const client = await DoipClient.connect({ host: '127.0.0.1', port: server.address.port });
      const engine = client.link(ENGINE);
      const body = client.link(BODY);
      const fromBody = collect(body, 1);
      const fromEngine = collect(engine, 1);
      await body.send(Uint8Array.of(0x3e, 0x00));
      await engine.send(Uint8Array.of(0x10, 0x03));
      assert.deepEqual(await fromBody, [[0x7e, 0x00]]);
      assert.deepEqual(await fromEngine, [[0x50, 0x03]]);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('rejects a send to an unknown target with DOIP_DIAG_NACK_UNKNOWN_TARGET_ADDRESS (wireCode 0x03)', async () => {
    const server = await startTestServer();
    try {
      const link = await connectDoipLink({ host: '127.0.0.1', port: server.address.port, targetAddress: 0x0042 });
      await assert.rejects(link.send(Uint8Array.of(0x3e, 0x00)), hasCode('DOIP_DIAG_NACK_UNKNOWN_TARGET_ADDRESS', 0x03));
      await link.close();
    } finally {
      await server.close();
    }
  });

  it('rejects a refused routing activation with DOIP_ROUTING_<NAME> and the response code', async () => {
    const server = await startTestServer();
    try {
      await assert.rejects(
        DoipClient.connect({ host: '127.0.0.1', port: server.address.port, sourceAddress: 0x1234 }),
        hasCode('DOIP_ROUTING_UNKNOWN_SOURCE_ADDRESS', 0x00),
      );
    } finally {
      await server.close();
    }
  });

  it('answers the alive check, so a second tester with its address is refused with 0x03', async () => {
    const server = await startTestServer({ timers: { aliveCheckMs: 300 } });
    try {
      const client = await DoipClient.connect({ host: '127.0.0.1', port: server.address.port });
      await assert.rejects(
        DoipClient.connect({ host: '127.0.0.1', port: server.address.port }),
        hasCode('DOIP_ROUTING_SOURCE_ADDRESS_ALREADY_ACTIVE', 0x03),
      );
      const raw = await RawTester.connect(server.address.port);
      assert.equal(await raw.activate(), 0x03);
      raw.destroy();
      assert.equal(client.closed, false);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('rejects with DOIP_TIMEOUT_ACK when the entity never acknowledges', async () => {
    const { server, port } = await fakeEntity(() => undefined);
    try {
      const client = await DoipClient.connect({ host: '127.0.0.1', port, timeouts: { ackMs: 100 } });
      await assert.rejects(client.sendDiagnostic(ENGINE, Uint8Array.of(0x3e, 0x00)), hasCode('DOIP_TIMEOUT_ACK'));
      await client.close();
    } finally {
      server.close();
    }
  });

  it('rejects a pending send with DOIP_CONNECTION_CLOSED when the entity closes the connection', async () => {
    const { server, port } = await fakeEntity((socket) => socket.destroy());
    try {
      const client = await DoipClient.connect({ host: '127.0.0.1', port });
      const closed = new Promise<OtaError>((resolve) => client.onClose(resolve));
      await assert.rejects(client.sendDiagnostic(ENGINE, Uint8Array.of(0x3e, 0x00)), hasCode('DOIP_CONNECTION_CLOSED'));
      assert.equal((await closed).code, 'DOIP_CONNECTION_CLOSED');
      await assert.rejects(client.sendDiagnostic(ENGINE, Uint8Array.of(0x3e, 0x00)), hasCode('DOIP_CONNECTION_CLOSED'));
    } finally {
      server.close();
    }
  });

  it('rejects with DOIP_GENERIC_NACK_<NAME> when the entity answers with a generic NACK', async () => {
    const { server, port } = await fakeEntity((socket) => socket.write(encodeDoipMessage({ type: 'genericNack', nackCode: 0x02 })));
    try {
      const client = await DoipClient.connect({ host: '127.0.0.1', port });
      await assert.rejects(client.sendDiagnostic(ENGINE, Uint8Array.of(0x3e, 0x00)), hasCode('DOIP_GENERIC_NACK_MESSAGE_TOO_LARGE', 0x02));
      await client.close();
    } finally {
      server.close();
    }
  });

  it('rejects with DOIP_CONNECT when nothing listens', async () => {
    const server = await startTestServer();
    const port = server.address.port;
    await server.close();
    await assert.rejects(DoipClient.connect({ host: '127.0.0.1', port }), hasCode('DOIP_CONNECT'));
  });
});
