/**
 * zongji 0.9.0 decodes a negative TIME2 by flipping the bits of its packed h:m:s and adding one
 * second, without carrying: every negative TIME whose seconds and fraction are zero arrives
 * with 64 seconds and one minute (or hour) short, e.g. -01:00:00 as `-00:63:64`. Seconds can
 * never be 64 otherwise, so the exact value is recoverable: 64 seconds means 0 seconds and a
 * carry into the minute, and minute 63 (the borrow of a zero minute) a carry into the hour.
 */
const BORROWED = /^-(\d{2,3}):(\d{2}):64(\.\d+)?$/;

export function repairNegativeTime(text: string): string {
  const m = BORROWED.exec(text);
  if (m === null) return text;
  let hour = Number(m[1]);
  let minute = Number(m[2]) + 1;
  if (minute === 64) {
    minute = 0;
    hour++;
  }
  return `-${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00${m[3] ?? ''}`;
}
