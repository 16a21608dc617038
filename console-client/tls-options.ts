// The console client's TLS: its flags (--tls, --ca FILE, --insecure) and the dialer that opens the
// connection the way they say. Kept apart from main.ts and connection.ts so both need only a line or
// two: parse a flag here, take a Dialer from here.
import { readFileSync } from 'node:fs';
import { connect as connectPlain, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

export interface TlsChoice {
  /** Speak TLS (implied by --ca and --insecure). */
  tls: boolean;
  /** A PEM file of CA certificates to trust instead of the system's (a self-signed server's own). */
  ca: string | undefined;
  /** Do not check the server's certificate at all. */
  insecure: boolean;
}

export const TLS_USAGE = `  --tls         connect with TLS, trusting the system's certificate authorities; env PARLEY_TLS=1
  --ca FILE     connect with TLS, trusting the CA certificate(s) in FILE instead (a server's
                self-signed certificate from make cert: --ca certs/cert.pem); env PARLEY_CA
  --insecure    connect with TLS without checking the server's certificate (anyone on the path
                could read and change the chat: for tests only); env PARLEY_INSECURE=1`;

const YES = /^(1|true|yes|on)$/i;

export function tlsFromEnv(env: NodeJS.ProcessEnv): TlsChoice {
  const ca = env.PARLEY_CA || undefined;
  const insecure = YES.test(env.PARLEY_INSECURE ?? '');
  return { tls: YES.test(env.PARLEY_TLS ?? '') || ca !== undefined || insecure, ca, insecure };
}

/** Takes a flag without a value (--tls, --insecure); false when `arg` is not one of them. */
export function tlsSwitch(arg: string, choice: TlsChoice): boolean {
  if (arg === '--tls') choice.tls = true;
  else if (arg === '--insecure') choice.tls = choice.insecure = true;
  else return false;
  return true;
}

/** --ca FILE; the file is read when the dialer is made. */
export function tlsCa(file: string, choice: TlsChoice): void {
  choice.ca = file;
  choice.tls = true;
}

/** Opens one connection; `ready` is the event after which it is usable. */
export type Dialer = (host: string, port: number) => { socket: Socket; ready: 'connect' | 'secureConnect' };

export const plainDialer: Dialer = (host, port) => ({ socket: connectPlain({ host, port }), ready: 'connect' });

/**
 * The dialer for `choice`, or the reason there is none (an unreadable --ca file). `warn` hears the
 * --insecure warning, once, before anything is sent.
 */
export function makeDialer(choice: TlsChoice, warn: (line: string) => void): Dialer | string {
  if (!choice.tls) return plainDialer;
  let ca: Buffer | undefined;
  if (choice.ca !== undefined) {
    try {
      ca = readFileSync(choice.ca);
    } catch (err) {
      return `cannot read --ca ${choice.ca}: ${(err as Error).message}`;
    }
  }
  if (choice.insecure) {
    warn(
      'parley: WARNING: --insecure: the server\'s certificate is NOT checked. Anyone between you and the\n' +
        'parley: server can read and change this chat. Use --ca FILE with the server\'s certificate instead.\n',
    );
  }
  return (host, port) => ({
    socket: connectTls({ host, port, ...(ca ? { ca } : {}), rejectUnauthorized: !choice.insecure }),
    ready: 'secureConnect',
  });
}
