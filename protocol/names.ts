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
