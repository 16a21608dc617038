// Incremental UTF-8 validation (RFC 3629): state survives between chunks so a text message split
// across fragments is rejected at its first bad byte, not when the message completes. That is what
// lets the receiver fail fast (Autobahn 6.4.x) and never buffer a message it will reject anyway.

export class Utf8Validator {
  // Continuation bytes still expected for the current sequence.
  private need = 0;
  // Allowed range for the NEXT continuation byte; narrower than 80..BF right after E0/ED/F0/F4
  // to exclude overlongs, surrogates and code points above U+10FFFF.
  private lo = 0x80;
  private hi = 0xbf;
  private bad = false;

  /** Returns false once any invalid byte has been seen (and keeps returning false until reset). */
  push(bytes: Buffer, start = 0, end = bytes.length): boolean {
    if (this.bad) return false;
    let need = this.need;
    let lo = this.lo;
    let hi = this.hi;
    for (let i = start; i < end; i++) {
      const b = bytes[i]!;
      if (need === 0) {
        if (b < 0x80) continue;
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lo = 0xa0;
          else if (b === 0xed) hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lo = 0x90;
          else if (b === 0xf4) hi = 0x8f;
        } else {
          this.bad = true;
          return false;
        }
      } else {
        if (b < lo || b > hi) {
          this.bad = true;
          return false;
        }
        lo = 0x80;
        hi = 0xbf;
        need--;
      }
    }
    this.need = need;
    this.lo = lo;
    this.hi = hi;
    return true;
  }

  /** False if invalid bytes were seen or the input stopped mid-sequence. Resets for the next message. */
  end(): boolean {
    const ok = !this.bad && this.need === 0;
    this.reset();
    return ok;
  }

  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
    this.bad = false;
  }
}

/** One-shot check for small complete payloads (close reasons). */
export function isValidUtf8(buf: Buffer): boolean {
  const v = new Utf8Validator();
  return v.push(buf) && v.end();
}
