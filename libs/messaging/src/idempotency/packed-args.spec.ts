import { PackedArgs } from './packed-args';

/** Reads back the subset of MessagePack that PackedArgs writes (array32 of str32, uint32, fixint). */
function unpack(buffer: Buffer): (string | number)[] {
  expect(buffer[0]).toBe(0xdd);
  const count = buffer.readUInt32BE(1);
  const values: (string | number)[] = [];
  let at = 5;
  for (let i = 0; i < count; i++) {
    const tag = buffer[at];
    if (tag < 0x80) {
      values.push(tag);
      at += 1;
    } else if (tag === 0xce) {
      values.push(buffer.readUInt32BE(at + 1));
      at += 5;
    } else {
      expect(tag).toBe(0xdb);
      const length = buffer.readUInt32BE(at + 1);
      values.push(buffer.toString('utf8', at + 5, at + 5 + length));
      at += 5 + length;
    }
  }
  expect(at).toBe(buffer.length);
  return values;
}

describe('PackedArgs', () => {
  it('packs strings (UTF-8, empty ones too), numbers as strings, and integers, in order', () => {
    const packed = new PackedArgs();
    packed.begin();
    packed.integer(3);
    packed.string('XADD');
    packed.string('s:ünïcødé 🚀');
    packed.string('');
    packed.string(42);
    packed.integer(70_000);
    expect(unpack(packed.finish())).toEqual([3, 'XADD', 's:ünïcødé 🚀', '', '42', 70_000]);
  });

  it('packs short ASCII strings, strings around the short limit and non-ASCII after ASCII the same way', () => {
    const packed = new PackedArgs();
    packed.begin();
    const values = ['a'.repeat(64), 'b'.repeat(65), 'abc€', `${'x'.repeat(63)}é`, 'messaging:{0b7e1c2a}:done'];
    for (const value of values) packed.string(value);
    expect(unpack(packed.finish())).toEqual(values);
  });

  it('starts each batch afresh, and grows for a batch larger than its buffer', () => {
    const packed = new PackedArgs();
    packed.begin();
    packed.string('first batch');
    packed.finish();
    packed.begin();
    const big = 'x'.repeat(100_000);
    packed.string(big);
    packed.string('after');
    expect(unpack(packed.finish())).toEqual([big, 'after']);
  });

  it('hands out a copy: packing the next batch does not change a buffer the socket may still hold', () => {
    const packed = new PackedArgs();
    packed.begin();
    packed.string('kept');
    const first = packed.finish();
    packed.begin();
    packed.string('next');
    packed.finish();
    expect(unpack(first)).toEqual(['kept']);
  });
});
