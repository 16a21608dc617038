// Byte counts as people read them in log lines: 812 bytes, 16.0 KiB, 1.5 MiB, 10.0 GiB.
const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  let v = n;
  let unit = -1;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}
