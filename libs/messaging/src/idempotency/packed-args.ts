const STR32 = 0xdb;
const ARRAY32 = 0xdd;
const UINT32 = 0xce;
const HEADER_BYTES = 5;
const INITIAL_BYTES = 16 * 1024;
/** A buffer grown past this for one big batch is given back at the next one. */
const KEPT_BYTES = 1024 * 1024;

/** Strings up to this long are tried byte by byte in JavaScript (see writeShortAscii). */
const SHORT_STRING = 64;

/**
 * Writes a short all-ASCII string byte by byte and returns its length; undefined (nothing to keep)
 * when it is longer or holds another character, for Buffer.write to do. A batch is mostly short
 * ASCII strings (command names, keys, ids, types), and for those a call into Buffer.write's native
 * UTF-8 encoder costs more than the copy itself.
 */
function writeShortAscii(buffer: Buffer, text: string, at: number): number | undefined {
  const length = text.length;
  if (length > SHORT_STRING) return undefined;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return undefined;
    buffer[at + i] = code;
  }
  return length;
}

/**
 * Packs a batch's script arguments into one MessagePack array (strings and non-negative integers),
 * which the script opens with `cmsgpack.unpack` (built into Redis's Lua). Sent as one Buffer
 * argument, it spares ioredis what it does per argument (a `$<length>` header, a string
 * concatenation and a byte count each) and the garbage of it: with ~10 arguments per message that
 * was the largest client cost of a commit. Headers are always the 32-bit forms (valid MessagePack,
 * if not the shortest), so a string is written in one pass and its length filled in after.
 *
 * One packer is reused batch after batch (`begin` ... `finish`, synchronously): `finish` copies the
 * bytes out, since the socket may still hold the Buffer it returns when the next batch is packed.
 */
export class PackedArgs {
  private buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private offset = 0;
  private count = 0;

  begin(): void {
    if (this.buffer.length > KEPT_BYTES) this.buffer = Buffer.allocUnsafe(INITIAL_BYTES);
    this.buffer[0] = ARRAY32;
    this.offset = HEADER_BYTES;
    this.count = 0;
  }

  /** Adds a string (a number is sent as its decimal string, as ioredis would send it). */
  string(value: string | number): void {
    const text = typeof value === 'string' ? value : String(value);
    this.reserve(HEADER_BYTES + text.length * 3);
    const start = this.offset;
    const written = writeShortAscii(this.buffer, text, start + HEADER_BYTES) ?? this.buffer.write(text, start + HEADER_BYTES);
    this.buffer[start] = STR32;
    this.buffer.writeUInt32BE(written, start + 1);
    this.offset = start + HEADER_BYTES + written;
    this.count++;
  }

  /** Adds a non-negative integer (below 2^32); Lua reads it as a number. */
  integer(value: number): void {
    this.reserve(HEADER_BYTES);
    if (value < 0x80) {
      this.buffer[this.offset++] = value;
    } else {
      this.buffer[this.offset] = UINT32;
      this.buffer.writeUInt32BE(value, this.offset + 1);
      this.offset += HEADER_BYTES;
    }
    this.count++;
  }

  /** The packed array, copied out of the reused buffer. */
  finish(): Buffer {
    this.buffer.writeUInt32BE(this.count, 1);
    const packed = Buffer.allocUnsafe(this.offset);
    this.buffer.copy(packed, 0, 0, this.offset);
    return packed;
  }

  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + bytes));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
}
