// Protocol errors as values: a stable string code for logs and tests, and the close code the
// connection layer must send, so no caller has to map messages to codes itself.

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  MANDATORY_EXT: 1010,
  INTERNAL: 1011,
} as const;

export class WsError extends Error {
  readonly code: string;
  readonly closeCode: number;
  constructor(code: string, closeCode: number, message: string) {
    super(message);
    this.name = 'WsError';
    this.code = code;
    this.closeCode = closeCode;
  }
}

export function wsError(code: string, closeCode: number, message: string): WsError {
  return new WsError(code, closeCode, message);
}

/**
 * Codes a peer may put on the wire. 1004/1005/1006/1015 are reserved (never sent); 1012-1014 are
 * registered with IANA (service restart, try again later, bad gateway) and real servers send them, so
 * we accept them rather than fail a legitimate close. 3000-4999 are for libraries and applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  );
}
