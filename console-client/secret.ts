// Passwords: where the console client gets them and how it asks for one. A password is only ever held
// in memory for the hello or request it is for; what is kept on disk is the token (token-store.ts).
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface PasswordSource {
  /** Where it came from, for messages ("--password-file pw.txt", "PARLEY_PASSWORD"). */
  label: string;
  value: string;
}

/**
 * The password given on the command line or in the environment: the first line of --password-file
 * (its line ending stripped, nothing else), or PARLEY_PASSWORD. A string is a problem to report.
 */
export function passwordSource(file: string | undefined, env: NodeJS.ProcessEnv): PasswordSource | undefined | string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return `cannot read --password-file ${file}: ${(err as Error).message}`;
    }
    const nl = text.indexOf('\n');
    let first = nl < 0 ? text : text.slice(0, nl);
    if (first.endsWith('\r')) first = first.slice(0, -1);
    if (first === '') return `--password-file ${file}: the first line is empty`;
    return { label: `--password-file ${file}`, value: first };
  }
  const fromEnv = env.PARLEY_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return { label: 'PARLEY_PASSWORD', value: fromEnv };
  return undefined;
}

export interface SecretInput {
  isRaw?: boolean;
  setRawMode(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
}

/**
 * Reads one line from a terminal in raw mode without echoing anything: no characters, no asterisks,
 * not even how long it is. Enter ends it; Backspace and Ctrl-U edit it; Ctrl-C, or Ctrl-D on an empty
 * line, abort it (undefined). Key sequences (arrows, function keys) are ignored rather than taken
 * into the password. The caller writes the prompt and must not have a readline reading `input`.
 */
export function readSecret(input: SecretInput): { done: Promise<string | undefined>; cancel(): void } {
  const decoder = new StringDecoder('utf8');
  let value = '';
  let finish: (v: string | undefined) => void = () => undefined;
  const done = new Promise<string | undefined>((resolve) => {
    const wasRaw = input.isRaw === true;
    const onData = (chunk: Buffer | string): void => {
      const s = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      // An escape sequence arrives as one read; a lone ESC is ignored too.
      if (s.startsWith('\u001b')) return;
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return finish(value);
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(undefined);
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    finish = (v) => {
      finish = () => undefined;
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      value = '';
      resolve(v);
    };
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
  return { done, cancel: () => finish(undefined) };
}
