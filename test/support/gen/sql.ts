/** SQL text helpers for generated programs: everything a case runs is printable and runnable by hand. */

export function ident(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** A utf8mb4 string literal (the harness connection's charset). */
export function str(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** Bytes as a hex literal: stored unconverted in binary and latin1 columns. */
export function hex(bytes: readonly number[]): string {
  return `X'${bytes.map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase()}'`;
}

export function asciiBytes(s: string): number[] {
  return [...Buffer.from(s, 'latin1')];
}

const US_PER_DAY = 86_400_000_000n;

/** `YYYY-MM-DD HH:MM:SS[.f…]` of microseconds since 1970 UTC, with p fraction digits. */
export function datetimeText(us: bigint, p: number): string {
  const ms = Number(us / 1000n);
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const frac = String(us % 1_000_000n).padStart(6, '0').slice(0, p);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${p > 0 ? '.' + frac : ''}`;
}

export function dateText(days: number): string {
  return datetimeText(BigInt(days) * US_PER_DAY, 0).slice(0, 10);
}

/** `[-]HHH:MM:SS[.f…]` of signed microseconds. */
export function timeText(us: bigint, p: number): string {
  const neg = us < 0n;
  const a = neg ? -us : us;
  const s = a / 1_000_000n;
  const h = s / 3600n;
  const m = (s / 60n) % 60n;
  const sec = s % 60n;
  const frac = String(a % 1_000_000n).padStart(6, '0').slice(0, p);
  const two = (n: bigint): string => String(n).padStart(2, '0');
  return `${neg ? '-' : ''}${two(h)}:${two(m)}:${two(sec)}${p > 0 ? '.' + frac : ''}`;
}

export function epochUs(text: string): bigint {
  return BigInt(Date.parse(text.replace(' ', 'T') + 'Z')) * 1000n;
}
