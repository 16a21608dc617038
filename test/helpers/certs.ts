// Self-signed certificates for TLS tests, made with the system's openssl the way `make cert` makes
// them, in a temporary folder. Each carries what the tests check: its SHA-256 fingerprint (which pair
// a handshake saw) and its SPKI hash (what Chromium's --ignore-certificate-errors-spki-list trusts).
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  /** As Node's X509Certificate and getPeerCertificate() print it: AA:BB:... */
  fingerprint256: string;
  /** base64(SHA-256(SubjectPublicKeyInfo)), for Chromium's SPKI allow-list. */
  spki: string;
}

/** A self-signed certificate for localhost, 127.0.0.1 and ::1 in `dir`, files named after `name`. */
export function makeCert(dir: string, name = 'server', cn = 'localhost'): TestCert {
  const certFile = join(dir, `${name}-cert.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'pipe' },
  );
  const cert = readFileSync(certFile);
  const spkiDer = createPublicKey(cert).export({ type: 'spki', format: 'der' });
  return {
    certFile,
    keyFile,
    cert,
    fingerprint256: new X509Certificate(cert).fingerprint256,
    spki: createHash('sha256').update(spkiDer).digest('base64'),
  };
}
