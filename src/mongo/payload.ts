import { BSON, type Document } from 'mongodb';

/**
 * Binary payloads for staging and dead letters: documents BSON-serialized and concatenated,
 * then cut into parts small enough for one MongoDB document each. Storing bytes instead of
 * documents means key names with '.' or '$', nested arrays or NUL characters in row images
 * never make the safety copy itself fail, and a row image over 16 MB still fits (in parts).
 */

/** Bytes per part: leaves room for the part's own fields under the 16 MiB document limit. */
export const PART_BYTES = 15 * 1024 * 1024;

/** Keeps Int32/Double/Long as classes so a value comes back with the BSON type it went in with. */
export const EXACT: BSON.DeserializeOptions = { promoteValues: false, promoteBuffers: false, promoteLongs: false };

/** js-bson serializes through one shared scratch buffer of this size, even into a caller's buffer. */
const BSON_SCRATCH_BYTES = 17 * 1024 * 1024;

export function serializeOne(doc: Document): Buffer {
  const size = BSON.calculateObjectSize(doc, { ignoreUndefined: true });
  if (size <= BSON_SCRATCH_BYTES) return Buffer.from(BSON.serialize(doc, { ignoreUndefined: true }));
  // A row image over the scratch size: grow it for this one document, then give the memory back.
  BSON.setInternalBufferSize(size);
  try {
    const buf = Buffer.alloc(size);
    BSON.serializeWithBufferAndIndex(doc, buf, { ignoreUndefined: true });
    return buf;
  } finally {
    BSON.setInternalBufferSize(BSON_SCRATCH_BYTES);
  }
}

/** Serializes each document and cuts the concatenation into parts of at most `partBytes`. */
export function encodeParts(docs: Iterable<Document>, partBytes = PART_BYTES): Buffer[] {
  const parts: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    parts.push(Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  for (const doc of docs) {
    let buf = serializeOne(doc);
    while (buf.length > 0) {
      const room = partBytes - pendingBytes;
      const take = buf.subarray(0, room);
      pending.push(take);
      pendingBytes += take.length;
      buf = buf.subarray(take.length);
      if (pendingBytes === partBytes) flush();
    }
  }
  if (pendingBytes > 0 || parts.length === 0) flush();
  return parts;
}

/** Reverses encodeParts: concatenates the parts in order and reads the documents back. */
export function decodeParts(parts: Uint8Array[]): Document[] {
  const all = Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
  const docs: Document[] = [];
  let at = 0;
  while (at < all.length) {
    if (at + 4 > all.length) throw new Error(`payload truncated at byte ${at} of ${all.length}`);
    const size = all.readInt32LE(at);
    if (size < 5 || at + size > all.length) throw new Error(`payload corrupt: document of ${size} bytes at ${at} of ${all.length}`);
    docs.push(BSON.deserialize(all.subarray(at, at + size), EXACT));
    at += size;
  }
  return docs;
}

/** A number stored through EXACT deserialization (Int32, Double, Long wrapper) back as a JS number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof BSON.Long) return v.toNumber();
  if (v instanceof BSON.Int32 || v instanceof BSON.Double) return v.valueOf();
  throw new Error(`expected a number in payload, got ${typeof v}`);
}

export function optNum(v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : num(v);
}
