/**
 * Ordinals of the columns a rows event left out of its images. A session with
 * binlog_row_image=MINIMAL or NOBLOB clears their bits in `columns_present_bitmap` (before
 * image, or the only image) and `columns_present_bitmap2` (after image of an update).
 */
export function absentColumns(count: number, bitmaps: readonly (Uint8Array | undefined)[]): number[] {
  const absent = new Set<number>();
  for (const bitmap of bitmaps) {
    if (bitmap === undefined) continue;
    for (let i = 0; i < count; i++) {
      if (((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) === 0) absent.add(i);
    }
  }
  return [...absent].sort((a, b) => a - b);
}
