/**
 * The tester side of UDS on CAN: a `UdsLink` over one ISO-TP connection (ISO 15765-2 normal addressing) to one
 * ECU, e.g. request id 0x7E0 / response id 0x7E8, plus functional requests on 0x7DF (single frame only).
 * Responses to both arrive on the physical response id and go to every listener.
 */
import type { CanInterface } from '../../protocol/can/index.js';
import type { OtaError } from '../../protocol/errors.js';
import { IsoTpTransport, type IsoTpRxDisposition, type IsoTpTransportOptions } from '../../protocol/isotp/index.js';
import type { UdsLink } from '../../protocol/uds/ports.js';

/** OBD/UDS functional request id of 11-bit normal addressing (ISO 15765-4). */
export const CAN_FUNCTIONAL_REQUEST_ID = 0x7df;

export interface IsoTpLinkOptions extends Omit<IsoTpTransportOptions, 'txId' | 'rxId' | 'functionalRxId'> {
  /** CAN id of our physical requests (e.g. 0x7E0). */
  requestId: number;
  /** CAN id of the ECU's responses (e.g. 0x7E8). */
  responseId: number;
  /** CAN id of functional requests; default 0x7DF, `null` for none. */
  functionalId?: number | null;
}

/** A `UdsLink` on ISO-TP, with functional requests and reception errors on top. */
export interface IsoTpLink extends UdsLink {
  /** Sends on the functional id (single frame only: `ISOTP_FUNCTIONAL_MULTI_FRAME` otherwise). */
  sendFunctional(request: Uint8Array): Promise<void>;
  /** Reception errors of the transport (an aborted multi-frame response, an ignored frame). */
  onError(listener: (error: OtaError, disposition: IsoTpRxDisposition) => void): () => void;
  readonly transport: IsoTpTransport;
}

/** Opens an ISO-TP connection on `can` and wraps it as a `UdsLink`; `close()` closes the transport. */
export function createIsoTpLink(can: CanInterface, options: IsoTpLinkOptions): IsoTpLink {
  const { requestId, responseId, functionalId, ...transportOptions } = options;
  const functional = functionalId === undefined ? CAN_FUNCTIONAL_REQUEST_ID : functionalId;
  const transport = new IsoTpTransport(can, {
    ...transportOptions,
    txId: requestId,
    rxId: responseId,
    ...(functional === null ? {} : { functionalTxId: functional }),
  });
  return {
    transport,
    send: (request) => transport.send(request),
    sendFunctional: (request) => transport.send(request, { functional: true }),
    onResponse: (listener) => transport.onMessage((payload) => listener(payload)),
    onError: (listener) => transport.onError(listener),
    close: async () => transport.close(),
  };
}
