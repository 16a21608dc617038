// The WebSocket library's public surface (RFC 6455 with permessage-deflate, RFC 7692, over HTTP/1.1 or
// over an HTTP/2 stream, RFC 8441). server/ws/ imports nothing from the rest of the server: a program
// can build a WebSocket server from these pieces alone, as echo.ts does. The corker and the liveness sweep are here because WebSocket needs
// them; the TCP transport uses them from here too.
export { corkUntilNextTurn } from './corker.js';
export { CLOSE_TIMEOUT_MS, IDLE_CLOSE_CODE, WsConnection, type WsConnectionHandlers, type WsConnectionOptions } from './connection.js';
export { DEFLATE_THRESHOLD, deflateMessage, inflateMessage, negotiateDeflate, type DeflateParams } from './deflate.js';
export { CloseCode, isValidCloseCode, WsError } from './errors.js';
export { ByteGather } from './gather.js';
export { acceptExtendedConnect, isExtendedConnect, refuseExtendedConnect, validateExtendedConnect, type ExtendedConnectResult } from './h2-handshake.js';
export { acceptKey, checkOrigin, originAllowed, REJECT_LINGER_MS, validateUpgrade, writeRejection, WS_VERSION, type HandshakeOptions, type HandshakeResult, type UpgradeRequest } from './handshake.js';
export { livenessSweep, LivenessSweep, sweepPeriodMs, type LivenessMember } from './liveness.js';
export { Receiver, type ReceiverHandlers, type ReceiverOptions } from './receiver.js';
export { encodeClose, encodeFrame, encodeTextFrame, Opcode } from './sender.js';
export { isValidUtf8, Utf8Validator } from './utf8.js';
