import type { WireValue, WrapTag } from './wire.js';

/**
 * BSON type of a mapped value as the hash sees it. The hash is taken over the mapping with
 * full capabilities, so the same row hashes the same on MongoDB and on FerretDB, and a
 * verifier needs no knowledge of the target server.
 */
export type HashTag = 'null' | 'int' | 'long' | 'decimal' | 'double' | 'string' | 'array' | 'binary' | 'date' | 'json' | 'jsontext';

/** One column value after mapping. */
export interface Mapped {
  /** What is stored, after capability fallbacks; clone-safe. */
  value: WireValue;
  /** How the main thread must wrap `value` into a BSON class, if at all. */
  wrap?: WrapTag;
  /** Exact source text when the stored value does not hold it exactly (`_sdl.raw`). */
  raw?: string;
  tag: HashTag;
  /** Canonical text of the full-capability value, including any exact source text; bytes for binary (hashed as is). */
  canon: string | Uint8Array;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export const NULL_MAPPED: Readonly<Mapped> = Object.freeze({ value: null, tag: 'null', canon: '' });

/** Appends exact source text to a canonical value so precision beyond BSON counts in the hash. */
export function withRaw(canon: string, raw: string | undefined): string {
  return raw === undefined ? canon : `${canon}\u0000${raw}`;
}

export function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`;
  if (value instanceof Date) return `Date(${value.toISOString()})`;
  const text = typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? typeof value);
  return `${typeof value} ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`;
}
