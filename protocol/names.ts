// Names of users and rooms: what they may look like and when two of them are the same. Kept apart from
// validation (which parses JSON) so that the hub, which never touches JSON, can compare names.
import { NAME_PATTERN } from './messages.js';

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Case-insensitive identity of a user or room name. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

/**
 * What a name looks like, for refusing look-alikes: lower case, with the ASCII characters people mix
 * up folded together (`0`→`o`; `1`, `i`→`l`; `rn`→`m`; `vv`→`w`). `aIice`, `al1ce` and `alice` share
 * one skeleton. This decides admission of new names only; identity stays nameKey.
 */
export function nameSkeleton(name: string): string {
  return name.toLowerCase().replace(/rn/g, 'm').replace(/vv/g, 'w').replace(/0/g, 'o').replace(/[1i]/g, 'l');
}
