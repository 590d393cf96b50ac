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
  return `e${pad(epoch, 6)}:${pad(fileSeq, 10)}:${pad(startPos, 12)}:${pad(n, 8)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
