// SASL PLAIN over AUTHENTICATE (https://ircv3.net/specs/extensions/sasl-3.1, RFC 4616): the client's
// base64 arrives in chunks of 400 bytes (a shorter chunk, or `+`, ends it), bounded before it is
// decoded. The credentials then log into a Parley account: the edge says `hello {name, password}`.
import { isUtf8 } from 'node:buffer';

/** One AUTHENTICATE chunk at most; a chunk of exactly this length means more follow. */
export const SASL_CHUNK = 400;
/** base64 accepted in all: room for a 1024-character password and two names, in any script. */
export const SASL_MAX_BYTES = 8192;

export interface PlainCredentials {
  /** authcid: the account to log into. */
  name: string;
  password: string;
}

export type SaslStep = { more: true } | { more: false; creds: PlainCredentials } | { more: false; error: 'too_long' | 'malformed' };

export class SaslPlain {
  private data = '';

  /** One AUTHENTICATE argument after the mechanism was chosen. */
  feed(arg: string): SaslStep {
    if (arg !== '+') {
      if (this.data.length + arg.length > SASL_MAX_BYTES) return { more: false, error: 'too_long' };
      this.data += arg;
      if (arg.length === SASL_CHUNK) return { more: true };
    }
    return decodePlain(this.data);
  }
}

/** `authzid NUL authcid NUL password`, base64. An authzid other than the authcid is refused. */
export function decodePlain(b64: string): SaslStep {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return { more: false, error: 'malformed' };
  const bytes = Buffer.from(b64, 'base64');
  if (!isUtf8(bytes)) return { more: false, error: 'malformed' };
  const parts = bytes.toString('utf8').split('\0');
  if (parts.length !== 3) return { more: false, error: 'malformed' };
  const [authz, authc, password] = parts as [string, string, string];
  if (authc === '' || password === '' || (authz !== '' && authz.toLowerCase() !== authc.toLowerCase())) return { more: false, error: 'malformed' };
  return { more: false, creds: { name: authc, password } };
}
