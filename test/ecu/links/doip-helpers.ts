// Test helpers for the DoIP links: a raw tester socket that speaks bytes and reads decoded messages, and
// small UDS handlers (echo, pending-then-answer, NRC) standing in for the virtual ECU.
import { connect, type Socket } from 'node:net';
import { DoipStreamReader, encodeDoipMessage, type DoipMessage } from '../../../src/protocol/doip/index.js';
import type { UdsRequestHandler } from '../../../src/protocol/uds/ports.js';
import { startDoipServer, type DoipServer, type DoipServerOptions } from '../../../src/ecu/links/doip-server.js';

export const TESTER = 0x0e00;
export const ENGINE = 0x0010;
export const BODY = 0x0011;

/** Positive response = request with SID + 0x40; `22 F1 80` answers `62 F1 80 'BOOT-1.0'`. */
export const echoHandler: UdsRequestHandler = {
  async handle(request, respond) {
    const out = Uint8Array.from(request);
    out[0] = (request[0] ?? 0) + 0x40;
    respond(out);
  },
};

/** Answers `7F SID 78` `pendings` times (10 ms apart), then the positive response. */
export function pendingHandler(pendings: number): UdsRequestHandler {
  return {
    async handle(request, respond) {
      for (let i = 0; i < pendings; i++) {
        respond(Uint8Array.of(0x7f, request[0] ?? 0, 0x78));
        await new Promise((r) => setTimeout(r, 10));
      }
      await echoHandler.handle(request, respond, { functional: false });
    },
  };
}

/** Starts a server on an ephemeral loopback port with an echo engine and body unless told otherwise. */
export function startTestServer(options: Partial<DoipServerOptions> = {}): Promise<DoipServer> {
  return startDoipServer({
    targets: new Map([
      [ENGINE, echoHandler],
      [BODY, echoHandler],
    ]),
    host: '127.0.0.1',
    port: 0,
    ...options,
  });
}

/** A raw TCP tester: write any bytes, read decoded DoIP messages in order, observe the close. */
export class RawTester {
  readonly socket: Socket;
  readonly #reader = new DoipStreamReader();
  readonly #queue: DoipMessage[] = [];
  #waiter: (() => void) | undefined;
  /** Resolves when the peer closes the connection. */
  readonly closed: Promise<void>;
  #isClosed = false;
  /** Answer alive check requests automatically with this address (undefined: stay silent). */
  answerAliveChecks: number | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.#reader.push(chunk)) {
        if (event.kind !== 'message') continue;
        const message = event.message;
        if (message.type === 'aliveCheckRequest' && this.answerAliveChecks !== undefined) {
          this.send({ type: 'aliveCheckResponse', sourceAddress: this.answerAliveChecks });
        }
        this.#queue.push(message);
        this.#waiter?.();
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.#isClosed = true;
      this.#waiter?.();
      resolve();
    }));
  }

  static connect(port: number): Promise<RawTester> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawTester(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(message: DoipMessage): void {
    this.write(encodeDoipMessage(message));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next message (rejects after `timeoutMs`, or when the socket closes with nothing queued). */
  async next(timeoutMs = 2_000): Promise<DoipMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.#queue.shift();
      if (message !== undefined) return message;
      if (this.#isClosed) throw new Error('connection closed with no message queued');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no DoIP message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          this.#waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** The next message, skipping alive check requests (answered or not). */
  async nextNonAlive(timeoutMs = 2_000): Promise<DoipMessage> {
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message.type !== 'aliveCheckRequest') return message;
    }
  }

  /** Activates routing and returns the response code. */
  async activate(sourceAddress = TESTER, activationType = 0x00): Promise<number> {
    this.send({ type: 'routingActivationRequest', sourceAddress, activationType });
    const response = await this.nextNonAlive();
    if (response.type !== 'routingActivationResponse') throw new Error(`expected a routing activation response, got ${response.type}`);
    return response.responseCode;
  }

  /** Resolves true when the peer closes within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
