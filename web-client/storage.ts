// What this browser remembers between visits, in localStorage: who to sign in as (an account's token,
// never its password), the rooms and direct conversations to open again, and the reader's own
// settings. Storage can throw (Safari private mode, disabled storage) and is user-editable, so every
// read is checked and every failure leaves the page working for this visit.
import { isValidName } from '../protocol/validate.js';

export const NAME_KEY = 'parley.name';
/** `{name, token}`: an account's login token. Never the password. */
export const ACCOUNT_KEY = 'parley.account';
/** sessionStorage: who just signed out (and whether the server revoked it), for the form after the reload. */
export const SIGNED_OUT_KEY = 'parley.signedOut';
export const ROOMS_KEY = 'parley.rooms';
/** People this browser has direct conversations with: their history is fetched again after a reload. */
export const DMS_KEY = 'parley.dms';
/** Users whose messages are hidden here (/ignore). */
export const IGNORED_KEY = 'parley.ignored';
/** "24" when times are to be shown as 24-hour HH:MM (/clock 24). */
export const CLOCK_KEY = 'parley.clock';

export function load(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
export function save(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* remembered for this visit only */
  }
}
export function forget(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    /* nothing was stored */
  }
}

/** The saved account login, if it is one. */
export function savedAccount(): { name: string; token: string } | undefined {
  try {
    const v: unknown = JSON.parse(load(ACCOUNT_KEY) ?? 'null');
    if (v && typeof v === 'object' && 'name' in v && 'token' in v && typeof v.name === 'string' && isValidName(v.name) && typeof v.token === 'string' && v.token !== '') {
      return { name: v.name, token: v.token };
    }
  } catch {
    /* not one */
  }
  return undefined;
}

/** A saved list of names, or `fallback` when there is none or it is not one. */
export function savedNames(key: string, fallback: string[]): string[] {
  const raw = load(key);
  if (raw === null) return fallback;
  try {
    const list: unknown = JSON.parse(raw);
    if (Array.isArray(list)) return list.filter((r): r is string => typeof r === 'string' && isValidName(r)).slice(0, 100);
  } catch {
    /* fall through to the default */
  }
  return fallback;
}

/** Who just signed out on this tab (read once: the page after the reload shows it, later ones do not). */
export function takeSignedOut(): { name: string; revoked: boolean } | undefined {
  try {
    const raw = sessionStorage.getItem(SIGNED_OUT_KEY);
    sessionStorage.removeItem(SIGNED_OUT_KEY);
    const v: unknown = JSON.parse(raw ?? 'null');
    if (v && typeof v === 'object' && 'name' in v && typeof v.name === 'string') return { name: v.name, revoked: 'revoked' in v && v.revoked === true };
  } catch {
    /* none */
  }
  return undefined;
}

export function markSignedOut(name: string, revoked: boolean): void {
  try {
    sessionStorage.setItem(SIGNED_OUT_KEY, JSON.stringify({ name, revoked }));
  } catch {
    /* the next page just shows the card */
  }
}
