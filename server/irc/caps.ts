// IRCv3 capabilities this server offers (https://ircv3.net/specs/extensions/capability-negotiation), as
// bits so that a connection's set is one number and the broadcast encoders can be chosen by it.
export const Cap = {
  awayNotify: 1 << 0,
  batch: 1 << 1,
  chathistory: 1 << 2,
  echoMessage: 1 << 3,
  labeledResponse: 1 << 4,
  messageTags: 1 << 5,
  sasl: 1 << 6,
  serverTime: 1 << 7,
} as const;

interface CapSpec {
  name: string;
  bit: number;
  /** Shown after `=` to clients that asked with CAP LS 302. */
  value?: string;
}

const CAPS: readonly CapSpec[] = [
  { name: 'away-notify', bit: Cap.awayNotify },
  { name: 'batch', bit: Cap.batch },
  { name: 'draft/chathistory', bit: Cap.chathistory },
  { name: 'echo-message', bit: Cap.echoMessage },
  { name: 'labeled-response', bit: Cap.labeledResponse },
  { name: 'message-tags', bit: Cap.messageTags },
  { name: 'sasl', bit: Cap.sasl, value: 'PLAIN' },
  { name: 'server-time', bit: Cap.serverTime },
];

/** The CAP LS list: with values for 302 clients. */
export function capList(v302: boolean): string[] {
  return CAPS.map((c) => (v302 && c.value !== undefined ? `${c.name}=${c.value}` : c.name));
}

/** The names of the caps set in `bits`. */
export function capNames(bits: number): string[] {
  return CAPS.filter((c) => (bits & c.bit) !== 0).map((c) => c.name);
}

/**
 * A CAP REQ list (`a -b c`): the bits to add and to remove, or undefined when any name is unknown
 * (the whole request is then refused with NAK, as the spec requires).
 */
export function parseCapRequest(list: string): { add: number; remove: number } | undefined {
  let add = 0;
  let remove = 0;
  for (const word of list.split(' ')) {
    if (word === '') continue;
    const off = word.startsWith('-');
    const name = off ? word.slice(1) : word;
    const spec = CAPS.find((c) => c.name === name);
    if (!spec) return undefined;
    if (off) remove |= spec.bit;
    else add |= spec.bit;
  }
  return { add, remove };
}
