// Password hashing with scrypt (node:crypto). The parameters are stored with each hash
// (`scrypt$N$r$p$salt$hash`, base64url), so they can be raised later without breaking old accounts, and
// comparison is constant-time. Verifying against an unknown name runs the same work on a fixed dummy
// hash, so a wrong name and a wrong password cost the same time and get the same answer.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~50 ms on a modern core and 16 MiB of memory per hash: slow for a guesser, fine for a login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Bounds on stored parameters, so a damaged or hostile record cannot ask for gigabytes. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface Parsed {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parse(encoded: string): Parsed | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isSafeInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return undefined;
  if (!Number.isSafeInteger(r) || r < 1 || r > MAX_R || !Number.isSafeInteger(p) || p < 1 || p > MAX_P) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length !== KEY_BYTES) return undefined;
  return { params: { N, r, p }, salt, key };
}

/** Whether the stored hash is well formed: the store refuses records whose hash is not. */
export function isPasswordHash(encoded: string): boolean {
  return parse(encoded) !== undefined;
}

/** A hash nobody's password matches, verified when the name is unknown so the timing gives nothing away. */
let dummy: Promise<string> | undefined;

/** True when `password` matches `encoded`; an undefined `encoded` (no such account) costs the same and is false. */
export async function verifyPassword(password: string, encoded: string | undefined): Promise<boolean> {
  const stored = encoded === undefined ? undefined : parse(encoded);
  const target = stored ?? parse(await (dummy ??= hashPassword(randomBytes(16).toString('hex'))))!;
  const key = await derive(password, target.salt, target.params);
  return timingSafeEqual(key, target.key) && stored !== undefined;
}

export interface PasswordRule {
  minLength: number;
  maxLength: number;
}

/** The password rule in force, said in the error so a person knows what to type. Undefined when it is met. */
export function passwordProblem(password: string, rule: PasswordRule): string | undefined {
  const length = [...password].length;
  if (length < rule.minLength || length > rule.maxLength) {
    return `a password must be ${rule.minLength}-${rule.maxLength} characters long`;
  }
  return undefined;
}
