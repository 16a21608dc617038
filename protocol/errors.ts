// Every error a Parley server sends is one of these codes. Clients branch on the code, never on the
// human-readable message, so codes are stable API: add new ones, never rename.
export const ERROR_CODES = [
  'bad_json', // the line or WebSocket message is not valid JSON
  'bad_request', // valid JSON, but not an object with a string `type`, or a field has the wrong type
  'unknown_type', // `type` names no request
  'not_ready', // anything but hello/ping/time/bye before a successful hello
  'already_ready', // a second hello on the same connection
  'bad_name', // a user name outside 1-32 of [A-Za-z0-9_.-]
  'name_taken', // another online user has this name (case-insensitively)
  'bad_room', // a room name outside 1-32 of [A-Za-z0-9_.-]
  'not_member', // leave/say/history for a room the user has not joined
  'bad_text', // text empty, over 4000 characters, or containing NUL
  'no_such_user', // dm or who for a name that has never connected
  'too_large', // a line or message over the server's --max-message-bytes
  'bad_utf8', // bytes that are not valid UTF-8 (TCP; WebSocket closes with 1007 instead)
  'too_many_rooms', // joining more rooms than one connection may hold
  'protocol_unsupported', // hello asked for a protocol version this server does not speak (fatal)
  'idle_timeout', // no hello within the allowed time, or a silent connection (fatal)
  'slow_consumer', // the client did not read fast enough and its send buffer overflowed (fatal)
  'unavailable', // the server could not persist the message (nothing was sent to anyone), or could not read what was asked
  'auth_required', // hello without credentials for a name that belongs to an account (not fatal: retry with password or token)
  'bad_credentials', // wrong password, or an unknown, expired or revoked token; the same for a name with no account
  'bad_password', // a new password outside the rules (the message says them)
  'rate_limited', // too many attempts; the error carries retryAfterMs
  'not_reachable', // a DM to someone who is neither online nor an account: it could not be delivered or kept
  'not_registered', // password or logout from a guest session
  'already_registered', // register from a session that is already an account
  'too_many_connections', // the server or the client's address is at its connection cap: refused before a session (fatal)
  'tls_required', // a plaintext client on a port that speaks TLS; sent in plaintext, then the connection closes (fatal)
  'not_author', // edit or delete of a message someone else wrote (or a guest's from an earlier connection)
  'no_such_message', // edit/delete/react of a seq that is not a retained stored message (deleted, aged out, never stored)
  'too_many_reactions', // a new emoji on a message that already has the most distinct ones allowed
  'internal', // the server failed to handle this request (a bug, logged); the connection and server carry on
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
