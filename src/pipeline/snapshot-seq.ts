import type { SourcePosition } from './types.js';

/**
 * The `seq` (mirror `_sdl.pos`) of every row read by a snapshot view at binlog position `pos`.
 * Binlog row changes get `<file seq, 6>:<transaction start, 12>:<ordinal, 8>` (the transaction
 * assembler). A transaction visible in the view ended at or before `pos`, so it started before
 * it; one not visible starts at or after `pos`, and its first event's end, which is its
 * start in that seq, lies after `pos`. The prefix `<file seq>:<pos>:` with nothing after it
 * therefore sorts after every change the view contains and before every change it does not:
 * the mirror's position guard keeps a snapshot image from overwriting a newer binlog image and
 * lets every later binlog change overwrite it. test/unit/snapshot-seq.test.ts checks this
 * against the assembler's own output.
 */
export function snapshotSeq(pos: SourcePosition): string {
  const m = /\.(\d+)$/.exec(pos.file);
  const fileSeq = m === null ? 0 : Number(m[1]);
  return `${String(fileSeq).padStart(6, '0')}:${String(pos.pos).padStart(12, '0')}:`;
}
