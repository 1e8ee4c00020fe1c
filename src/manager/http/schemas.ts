/** JSON schemas of the API's inputs (Fastify validates them; a mismatch is 400 BAD_REQUEST). */
import { MAX_UDS_BYTES } from '../../protocol/ota/messages.js';
import { MAX_DIAG_TIMEOUT_MS } from '../diagnostics.js';

export interface VehicleParams {
  id: string;
}

export const vehicleParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^/#+$\\u0000][^/#+\\u0000]*$' } },
} as const;

export interface DiagBody {
  ecu: string;
  /** UDS request as hex: `22F190`, `22 F1 90`, `0x22 0xF1 0x90`. */
  request: string;
  timeoutMs?: number;
}

export const diagBodySchema = {
  type: 'object',
  required: ['ecu', 'request'],
  additionalProperties: false,
  properties: {
    ecu: { type: 'string', minLength: 1, maxLength: 32 },
    // Room for separators between the hex digit pairs of the largest request.
    request: { type: 'string', minLength: 1, maxLength: 5 * MAX_UDS_BYTES },
    timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_DIAG_TIMEOUT_MS },
  },
} as const;

export interface ListQuery {
  vehicle?: string;
  limit?: string;
}

/** `?limit=1..1000` (decimal), and `?vehicle=<id>` where the list is per vehicle. */
export function listQuerySchema(withVehicle: boolean): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$' },
      ...(withVehicle ? { vehicle: vehicleParamsSchema.properties.id } : {}),
    },
  };
}
