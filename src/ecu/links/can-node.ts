/**
 * Binds a UDS server to CAN: one ISO-TP connection (ISO 15765-2 normal addressing) on the ECU's physical
 * request / response ids, plus the functional request id (0x7DF), on which only single frames are accepted
 * (ISO 15765-2 §9.2; the transport ignores anything else there). Requests are served one at a time in
 * arrival order; every response the handler gives (including 0x78 pending) goes out on the response id.
 */
import type { CanInterface } from '../../protocol/can/index.js';
import { IsoTpTransport, type IsoTpRxDisposition, type IsoTpTransportOptions } from '../../protocol/isotp/index.js';
import { negativeResponseFor } from '../../protocol/uds/nrc.js';
import type { UdsRequestHandler } from '../../protocol/uds/ports.js';

/** CAN ids of the virtual vehicle (ARCHITECTURE.md §3, ECU addressing). */
export const ECU_CAN_IDS = {
  engine: { requestId: 0x7e0, responseId: 0x7e8 },
  body: { requestId: 0x7e1, responseId: 0x7e9 },
  functionalId: 0x7df,
} as const;

export interface CanNodeOptions extends Omit<IsoTpTransportOptions, 'txId' | 'rxId' | 'functionalTxId' | 'functionalRxId'> {
  /** Physical request id we listen on (e.g. 0x7E0). */
  requestId: number;
  /** Response id we send on (e.g. 0x7E8). */
  responseId: number;
  /** Functional request id; default 0x7DF, `null` for none. */
  functionalId?: number | null;
  /** Transport reception errors and failed response sends, for logs. */
  onError?: (error: unknown, disposition: IsoTpRxDisposition | 'send' | 'handler') => void;
}

/** A UDS server attached to a CAN interface. */
export interface CanNode {
  readonly transport: IsoTpTransport;
  /** Stops listening; a request being served may still finish but its responses are dropped. */
  close(): void;
}

/** Attaches `handler` to `can` under the given ids. */
export function bindCanNode(can: CanInterface, handler: UdsRequestHandler, options: CanNodeOptions): CanNode {
  const { requestId, responseId, functionalId, onError, ...transportOptions } = options;
  const functional = functionalId === undefined ? ECU_CAN_IDS.functionalId : functionalId;
  const report = onError ?? (() => undefined);
  const transport = new IsoTpTransport(can, {
    ...transportOptions,
    txId: responseId,
    rxId: requestId,
    ...(functional === null ? {} : { functionalRxId: functional }),
  });
  let closed = false;
  let queue: Promise<void> = Promise.resolve();

  const respond = (response: Uint8Array): void => {
    if (closed || response.length === 0) return;
    transport.send(Uint8Array.from(response)).catch((e: unknown) => report(e, 'send'));
  };

  const serve = async (request: Uint8Array, isFunctional: boolean): Promise<void> => {
    if (closed) return;
    try {
      await handler.handle(request, respond, { functional: isFunctional });
    } catch (error) {
      report(error, 'handler');
      // A handler fault must not leave the tester waiting for P2*: answer 7F SID 10 (or the error's NRC).
      respond(negativeResponseFor(error, request[0] ?? 0));
    }
  };

  const offMessage = transport.onMessage((payload, info) => {
    queue = queue.then(() => serve(payload, info.functional));
  });
  const offError = transport.onError((error, disposition) => report(error, disposition));

  return {
    transport,
    close: () => {
      if (closed) return;
      closed = true;
      offMessage();
      offError();
      transport.close();
    },
  };
}
