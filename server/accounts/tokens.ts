// Session tokens: what a client keeps instead of the password. A token is 32 random bytes (base64url);
// only its SHA-256 is stored, so a copy of the data directory cannot be used to log in.
import { createHash, randomBytes } from 'node:crypto';

/** How long a token stays valid after it was issued. */
export const TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;
const TOKEN_BYTES = 32;
/** Base64url of 32 bytes is 43 characters; anything else cannot be ours and is not hashed. */
export const TOKEN_LENGTH = 43;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function tokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
