/**
 * The tester side of DoIP (ISO 13400-2) on TCP: connect, activate routing with our tester address, send
 * diagnostic messages and wait for the entity's positive ACK, deliver the ECUs' diagnostic messages (UDS
 * responses, including 0x78 pending) to listeners, and answer the entity's alive checks. No reconnect: a
 * closed connection fails pending and later sends with `DOIP_CONNECTION_CLOSED`.
 */
import { connect, type Socket } from 'node:net';
import {
  DOIP_ACTIVATION_TYPE,
  DOIP_DEFAULTS,
  DOIP_ROUTING_ACTIVATION_RESPONSE_CODE,
  DoipStreamReader,
  doipCodeName,
  doipNackFor,
  encodeDoipMessage,
  type DoipMessage,
  type DoipMessageOf,
} from '../../protocol/doip/index.js';
import { OtaError, ProtocolError, TimeoutError } from '../../protocol/errors.js';
import type { UdsLink } from '../../protocol/uds/ports.js';

export interface DoipClientOptions {
  host: string;
  port: number;
  /** Our tester logical address; default 0x0E00. */
  sourceAddress?: number;
  /** Routing activation type; default 0x00. */
  activationType?: number;
  /** Protocol version written in our headers and accepted in the entity's; default 0x02. */
  protocolVersion?: number;
  /** Largest payload accepted from the entity; default that of the codec (4100). */
  maxPayloadLength?: number;
  /** ms for the TCP connect, the routing activation response and each diagnostic ACK (A_DoIP_Ctrl, 2 s). */
  timeouts?: { connectMs?: number; activationMs?: number; ackMs?: number };
}

/** `unknownTargetAddress` → `UNKNOWN_TARGET_ADDRESS`. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One activated DoIP connection; `link(target)` gives a `UdsLink` to one ECU behind the entity. */
export class DoipClient {
  readonly sourceAddress: number;
  /** The entity's logical address from the routing activation response. */
  entityAddress = 0;
  readonly #socket: Socket;
  readonly #protocolVersion: number;
  readonly #ackMs: number;
  readonly #reader: DoipStreamReader;
  /** ACK/NACK waiters in send order: the entity answers diagnostic messages in the order received. */
  readonly #acks: Waiter<void>[] = [];
  #activation: Waiter<DoipMessageOf<'routingActivationResponse'>> | undefined;
  readonly #listeners = new Set<(sourceAddress: number, data: Uint8Array) => void>();
  readonly #closeListeners = new Set<(reason: OtaError) => void>();
  #sendTail: Promise<void> = Promise.resolve();
  #closed: OtaError | undefined;

  private constructor(socket: Socket, options: DoipClientOptions) {
    this.#socket = socket;
    this.sourceAddress = options.sourceAddress ?? DOIP_DEFAULTS.testerAddress;
    this.#protocolVersion = options.protocolVersion ?? DOIP_DEFAULTS.protocolVersion;
    this.#ackMs = options.timeouts?.ackMs ?? 2_000;
    const decode = { protocolVersions: [this.#protocolVersion] };
    this.#reader = new DoipStreamReader(options.maxPayloadLength === undefined ? decode : { ...decode, maxPayloadLength: options.maxPayloadLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e: Error) => this.#shutdown(new OtaError('DOIP_CONNECTION_CLOSED', `socket error: ${e.message}`, { cause: e })));
    socket.on('close', () => this.#shutdown(new OtaError('DOIP_CONNECTION_CLOSED', 'the DoIP entity closed the connection')));
  }

  /**
   * Connects and activates routing. Rejects with `DOIP_CONNECT` (TCP), `DOIP_TIMEOUT_CONNECT`,
   * `DOIP_TIMEOUT_ACTIVATION`, or `DOIP_ROUTING_<NAME>` (wireCode = the refusal's response code, Table 49).
   */
  static async connect(options: DoipClientOptions): Promise<DoipClient> {
    const socket = await openSocket(options.host, options.port, options.timeouts?.connectMs ?? 2_000);
    const client = new DoipClient(socket, options);
    try {
      await client.#activate(options.activationType ?? DOIP_ACTIVATION_TYPE.default, options.timeouts?.activationMs ?? 2_000);
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Sends one UDS request to `targetAddress`; resolves on the entity's positive ACK. Rejects with
   * `DOIP_DIAG_NACK_<NAME>` (wireCode = NACK code, Table 26), `DOIP_GENERIC_NACK_<NAME>`, `DOIP_TIMEOUT_ACK`
   * or `DOIP_CONNECTION_CLOSED`. Sends are serialized: each waits for the previous one's ACK.
   */
  sendDiagnostic(targetAddress: number, userData: Uint8Array): Promise<void> {
    const run = this.#sendTail.then(() => this.#sendOne(targetAddress, userData));
    this.#sendTail = run.catch(() => undefined);
    return run;
  }

  /** Every diagnostic message addressed to us: `(ecu address, UDS bytes)`. Returns unsubscribe. */
  onDiagnostic(listener: (sourceAddress: number, data: Uint8Array) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Called once when the connection ends, with the reason. Returns unsubscribe. */
  onClose(listener: (reason: OtaError) => void): () => void {
    this.#closeListeners.add(listener);
    return () => {
      this.#closeListeners.delete(listener);
    };
  }

  /** A `UdsLink` to the ECU at `targetAddress`; closing the link leaves the connection open. */
  link(targetAddress: number): UdsLink {
    const unsubscribers = new Set<() => void>();
    return {
      send: (request) => this.sendDiagnostic(targetAddress, request),
      onResponse: (listener) => {
        const off = this.onDiagnostic((source, data) => {
          if (source === targetAddress) listener(data);
        });
        unsubscribers.add(off);
        return () => {
          off();
          unsubscribers.delete(off);
        };
      },
      close: async () => {
        for (const off of unsubscribers) off();
        unsubscribers.clear();
      },
    };
  }

  /** Closes the TCP connection; resolves when it is closed. */
  async close(): Promise<void> {
    if (this.#socket.closed) {
      this.#shutdown(new OtaError('DOIP_CONNECTION_CLOSED', 'the DoIP client was closed'));
      return;
    }
    const done = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    this.#shutdown(new OtaError('DOIP_CONNECTION_CLOSED', 'the DoIP client was closed'));
    this.#socket.destroy();
    await done;
  }

  async #activate(activationType: number, timeoutMs: number): Promise<void> {
    const response = await new Promise<DoipMessageOf<'routingActivationResponse'>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#activation = undefined;
        reject(new TimeoutError('DOIP_TIMEOUT_ACTIVATION', `no routing activation response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#activation = { resolve, reject, timer };
      this.#write({ type: 'routingActivationRequest', sourceAddress: this.sourceAddress, activationType });
    });
    this.entityAddress = response.entityAddress;
    const code = response.responseCode;
    if (code !== DOIP_ROUTING_ACTIVATION_RESPONSE_CODE.successfullyActivated) {
      const name = doipCodeName('routingActivationResponse', code);
      throw new ProtocolError(`DOIP_ROUTING_${upperSnake(name)}`, `routing activation refused: ${name} (0x${hex2(code)})`, { wireCode: code });
    }
  }

  #sendOne(targetAddress: number, userData: Uint8Array): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter<void> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#acks.indexOf(waiter);
          if (i >= 0) this.#acks.splice(i, 1);
          reject(new TimeoutError('DOIP_TIMEOUT_ACK', `no diagnostic message ACK within ${this.#ackMs} ms`));
        }, this.#ackMs),
      };
      this.#acks.push(waiter);
      this.#write({ type: 'diagnosticMessage', sourceAddress: this.sourceAddress, targetAddress, userData });
    });
  }

  #write(message: DoipMessage): void {
    if (this.#socket.writable) this.#socket.write(encodeDoipMessage({ ...message, protocolVersion: this.#protocolVersion }));
  }

  #onData(chunk: Buffer): void {
    for (const event of this.#reader.push(chunk)) {
      if (event.kind === 'error') {
        const nack = doipNackFor(event.error);
        if (nack !== undefined) this.#write(nack.reply);
        if (nack?.closeConnection !== false) {
          this.#shutdown(new OtaError('DOIP_CONNECTION_CLOSED', `the entity sent a bad header: ${event.error.code}`, { cause: event.error }));
          this.#socket.end();
          return;
        }
        continue;
      }
      this.#onMessage(event.message);
    }
  }

  #onMessage(message: DoipMessage): void {
    switch (message.type) {
      case 'routingActivationResponse':
        if (this.#activation !== undefined) settle(this.#activation, (w) => w.resolve(message));
        this.#activation = undefined;
        return;
      case 'aliveCheckRequest':
        // ISO 13400-2: answer the entity's alive check with our (activated) source address.
        this.#write({ type: 'aliveCheckResponse', sourceAddress: this.sourceAddress });
        return;
      case 'diagnosticAck':
        this.#settleAck((w) => w.resolve());
        return;
      case 'diagnosticNack': {
        const name = doipCodeName('diagnosticNack', message.nackCode);
        const error = new ProtocolError(`DOIP_DIAG_NACK_${upperSnake(name)}`, `diagnostic message refused: ${name} (0x${hex2(message.nackCode)})`, {
          wireCode: message.nackCode,
        });
        this.#settleAck((w) => w.reject(error));
        return;
      }
      case 'genericNack': {
        const name = doipCodeName('genericNack', message.nackCode);
        const error = new ProtocolError(`DOIP_GENERIC_NACK_${upperSnake(name)}`, `the entity refused our message: ${name} (0x${hex2(message.nackCode)})`, {
          wireCode: message.nackCode,
        });
        if (this.#activation !== undefined) settle(this.#activation, (w) => w.reject(error));
        this.#activation = undefined;
        this.#settleAck((w) => w.reject(error));
        return;
      }
      case 'diagnosticMessage': {
        if (message.targetAddress !== this.sourceAddress) return;
        const data = Uint8Array.from(message.userData); // the decoded bytes are a view into a socket chunk
        for (const listener of [...this.#listeners]) listener(message.sourceAddress, data);
        return;
      }
      default:
        return; // entity status and power mode answers are not requested by this client
    }
  }

  #settleAck(action: (w: Waiter<void>) => void): void {
    const waiter = this.#acks.shift();
    if (waiter !== undefined) settle(waiter, action);
  }

  #shutdown(reason: OtaError): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    if (this.#activation !== undefined) settle(this.#activation, (w) => w.reject(reason));
    this.#activation = undefined;
    for (const waiter of this.#acks.splice(0)) settle(waiter, (w) => w.reject(reason));
    for (const listener of [...this.#closeListeners]) listener(reason);
  }
}

function settle<T>(waiter: Waiter<T>, action: (w: Waiter<T>) => void): void {
  clearTimeout(waiter.timer);
  action(waiter);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError('DOIP_TIMEOUT_CONNECT', `no TCP connection to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new OtaError('DOIP_CONNECT', `cannot connect to ${host}:${port}: ${e.message}`, { cause: e }));
    });
  });
}

/** Connects, activates routing and returns a `UdsLink` to `targetAddress` that owns the connection. */
export async function connectDoipLink(options: DoipClientOptions & { targetAddress: number }): Promise<UdsLink & { client: DoipClient }> {
  const client = await DoipClient.connect(options);
  const link = client.link(options.targetAddress);
  return {
    client,
    send: link.send,
    onResponse: link.onResponse,
    close: async () => {
      await link.close();
      await client.close();
    },
  };
}
