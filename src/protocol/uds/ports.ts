/**
 * The two ports UDS traffic crosses, independent of the link (ISO-TP on CAN, DoIP on TCP, a secure
 * channel). A server (the virtual ECU) implements `UdsRequestHandler`; a link binds it to a transport.
 * A tester (the gateway) talks through a `UdsLink`.
 */

/** Metadata a link passes with a request. */
export interface UdsRequestMeta {
  /** True when the request arrived on a functional (broadcast) address, e.g. CAN id 0x7DF. */
  functional: boolean;
}

/**
 * Server side: one request in, zero or more responses out — e.g. `7F 31 78` (response pending) while
 * erasing, then the final response; none at all when the positive response is suppressed (or a
 * functional request gets an NRC that ISO 14229-1 §7.5 says to suppress).
 */
export interface UdsRequestHandler {
  handle(request: Uint8Array, respond: (response: Uint8Array) => void, meta: UdsRequestMeta): Promise<void>;
}

/** Client side: a link that carries UDS requests to one ECU and delivers every response it sends back. */
export interface UdsLink {
  send(request: Uint8Array): Promise<void>;
  /** Subscribe to responses (including 0x78 pending); returns an unsubscribe function. */
  onResponse(listener: (response: Uint8Array) => void): () => void;
  close(): Promise<void>;
}
