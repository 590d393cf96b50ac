import type { SourcePosition } from '../pipeline/types.js';

export { positionOrder } from '../pipeline/sequence.js';

/** A short stable name for a position in ids and logs: GTID when there is one, else file:pos. */
export function positionKey(pos: SourcePosition): string {
  return pos.gtid !== undefined && pos.gtid !== '' ? pos.gtid : `${pos.file}:${pos.pos}`;
}

/** The position alone, for logs and records: the JSON state it may carry belongs to the checkpoint. */
export function withoutJson(pos: SourcePosition): SourcePosition {
  if (pos.json === undefined) return pos;
  const rest = { ...pos };
  delete rest.json;
  return rest;
}
