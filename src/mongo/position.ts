import type { SourcePosition } from '../pipeline/types.js';

/**
 * A string that sorts like the binlog: file sequence number, then byte offset, both
 * zero-padded (`0000000003:00000000000000004711`). Used to refuse moving a checkpoint back.
 */
export function positionOrder(pos: SourcePosition): string {
  const m = /(\d+)$/.exec(pos.file);
  const fileSeq = m?.[1] ?? '0';
  return `${fileSeq.padStart(10, '0')}:${String(pos.pos).padStart(20, '0')}`;
}

/** A short stable name for a position in ids and logs: GTID when there is one, else file:pos. */
export function positionKey(pos: SourcePosition): string {
  return pos.gtid !== undefined && pos.gtid !== '' ? pos.gtid : `${pos.file}:${pos.pos}`;
}
