// The server's certificate and key: read from PEM files, checked to be a pair, and re-read on demand
// (SIGHUP) without dropping anyone. Every listener that speaks TLS takes its credentials from here —
// the chat TCP port, HTTPS, and any listener added later (an IRC TLS port) — either as the current
// SecureContext for a TLSSocket it wraps itself, or by handing its tls.Server to serve(), which keeps
// that server's context current. A reload changes what new handshakes see; connections already
// established keep the session keys they negotiated.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

/** What a loaded certificate is, for logs, metrics and tests. */
export interface CertificateInfo {
  subject: string;
  /** SHA-256 of the DER certificate, colon-separated hex as Node prints it. */
  fingerprint256: string;
  notAfter: Date;
}

export type ReloadResult = { ok: true; certificate: CertificateInfo } | { ok: false; error: string };

interface Loaded {
  options: SecureContextOptions;
  context: SecureContext;
  certificate: CertificateInfo;
}

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`);
  }
}

/** Reads and checks both files; throws an Error whose message names the file and the problem. */
async function loadPair(certFile: string, keyFile: string): Promise<Loaded> {
  const [cert, key] = await Promise.all([readPem(certFile, '--tls-cert'), readPem(keyFile, '--tls-key')]);
  const options: SecureContextOptions = { cert, key };
  let context: SecureContext;
  try {
    // OpenSSL checks here that both parse and that the key belongs to the certificate.
    context = createSecureContext(options);
  } catch (err) {
    throw new Error(`--tls-cert ${certFile} and --tls-key ${keyFile} are not a usable PEM pair: ${(err as Error).message}`);
  }
  // The first certificate of the file is the server's own; the rest, if any, is its chain.
  const x509 = new X509Certificate(cert);
  return {
    options,
    context,
    certificate: { subject: x509.subject, fingerprint256: x509.fingerprint256, notAfter: new Date(x509.validTo) },
  };
}

export class TlsCredentials {
  private readonly servers = new Set<TlsServer>();
  /** One reload at a time: two SIGHUPs in a row must not race to install an older read. */
  private reloading: Promise<ReloadResult> | undefined;

  private constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private loaded: Loaded,
  ) {}

  /** Loads the pair; a missing, unreadable or mismatched file is an Error (the server does not start). */
  static async load(certFile: string, keyFile: string): Promise<TlsCredentials> {
    return new TlsCredentials(certFile, keyFile, await loadPair(certFile, keyFile));
  }

  /** The context for a handshake starting now. */
  get secureContext(): SecureContext {
    return this.loaded.context;
  }

  /** Certificate and key as options, for creating a tls.Server or an HTTP/2 secure server. */
  get options(): SecureContextOptions {
    return this.loaded.options;
  }

  get certificate(): CertificateInfo {
    return this.loaded.certificate;
  }

  /** Keeps `server` on the current pair: it is set now and again after every successful reload. */
  serve(server: TlsServer): void {
    this.servers.add(server);
    server.setSecureContext(this.loaded.options);
    server.once('close', () => this.servers.delete(server));
  }

  /**
   * Re-reads both files. On success new handshakes use the new pair; on failure (a half-written file,
   * a key that does not match) the old pair stays in use and the result says why.
   */
  reload(): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      try {
        const next = await loadPair(this.certFile, this.keyFile);
        this.loaded = next;
        for (const s of this.servers) s.setSecureContext(next.options);
        return { ok: true, certificate: next.certificate };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    };
    const previous = this.reloading ?? Promise.resolve(undefined);
    const mine = previous.then(run);
    this.reloading = mine;
    void mine.finally(() => {
      if (this.reloading === mine) this.reloading = undefined;
    });
    return mine;
  }
}
