import type { SourcePosition } from './types.js';

/**
 * Orders over the pipeline's whole history, as strings that sort like it: source epoch, binlog
 * file number (10 digits: `binlog.1000000` sorts after `binlog.999999`), then byte offset.
 * The leading `e` sorts after every digit, so these orders and row sequences also sort after
 * the ones written before epochs existed (`000003:…`): an upgrade never makes new writes look
 * older than what is stored.
 */
export function positionOrder(pos: SourcePosition): string {
  const m = /(\d+)$/.exec(pos.file);
  return `e${pad(pos.epoch ?? 0, 6)}:${(m?.[1] ?? '0').padStart(10, '0')}:${pad(pos.pos, 20)}`;
}

/** `_sdl.pos` of the n-th row change of the group that starts at `startPos` in `file`. */
export function changeSeq(epoch: number, fileSeq: number, startPos: number, n: number): string {
  return `${groupSeq(epoch, fileSeq, startPos)}${pad(n, 8)}`;
}

/**
 * `_sdl.pos` of every row a snapshot view at `pos` read. A transaction the view contains ended
 * at or before `pos`, so it started before it; one it does not contain starts at or after
 * `pos`, and its changes' seqs extend this prefix or sort after it. So the bare prefix sorts
 * after every change the view holds and before every change it does not: the mirror's position
 * guard keeps a snapshot image from overwriting a newer binlog image and lets every later
 * binlog change overwrite it (test/unit/snapshot-seq.test.ts checks it against the assembler).
 */
export function snapshotSeq(pos: SourcePosition): string {
  const m = /\.(\d+)$/.exec(pos.file);
  return groupSeq(pos.epoch ?? 0, m === null ? 0 : Number(m[1]), pos.pos);
}

function groupSeq(epoch: number, fileSeq: number, startPos: number): string {
  return `e${pad(epoch, 6)}:${pad(fileSeq, 10)}:${pad(startPos, 12)}:`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
