// One command vocabulary in both clients (issue 16): the short names irssi users type, each running
// the command it names, the same in the console and the browser.
export const COMMAND_ALIASES: Readonly<Record<string, string>> = {
  j: 'join',
  part: 'leave',
  w: 'users',
  who: 'users',
  n: 'names',
  list: 'rooms',
  m: 'msg',
  q: 'query',
  wi: 'whois',
  t: 'topic',
  win: 'window',
  exit: 'quit',
  bye: 'quit',
};
