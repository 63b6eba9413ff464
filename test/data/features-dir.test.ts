/**
 * `features:<path>`: .npy / .npz files written by numpy (test/fixtures/numpy, made by make.py there)
 * read without numpy, and damaged variants of them refused with one clear error.
 *
 * Every fixture array follows one formula: features[i][j] = i + j/8, labels[i] = i % 3 (train 6 x 4,
 * test 3 x 4), in the dtype / order / container the fixture's name says.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { externalClasses, readExternalFeatures } from '../../src/data/features-dir.js';
import { Npz, halfToFloat, parseNpy, toFloat32Matrix, toLabels } from '../../src/data/numpy.js';
import { rejectedUserError } from './helpers.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'numpy');

function expectFormula(f: Awaited<ReturnType<typeof readExternalFeatures>>): void {
  for (const [split, n] of [['train', 6], ['test', 3]] as const) {
    const s = f[split];
    expect([s.count, s.dim]).to.deep.equal([n, 4]);
    expect(s.x).to.be.instanceOf(Float32Array);
    expect(Array.from(s.x)).to.deep.equal(Array.from({ length: n * 4 }, (_, k) => Math.floor(k / 4) + (k % 4) / 8));
    expect(Array.from(s.y)).to.deep.equal(Array.from({ length: n }, (_, i) => i % 3));
  }
  expect(f.numClasses).to.equal(3);
}

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'cl-feat-'));
  tmpDirs.push(d);
  return d;
}

/** A copy of the npy-f32-i64 fixture folder with `edit` applied to one file's bytes. */
function damagedCopy(file: string, edit: (b: Buffer) => Buffer): string {
  const dir = tmp();
  for (const f of fs.readdirSync(path.join(FIXTURES, 'npy-f32-i64'))) {
    const b = fs.readFileSync(path.join(FIXTURES, 'npy-f32-i64', f));
    fs.writeFileSync(path.join(dir, f), f === file ? edit(b) : b);
  }
  return dir;
}

/** A .npy buffer as numpy writes it (format 1.0, C order). */
function npy(descr: string, shape: number[], data: Buffer): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const head = Buffer.alloc(total, 0x20);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(total - 10, 8);
  head.write(dict, 10, 'latin1');
  head[total - 1] = 0x0a;
  return Buffer.concat([head, data]);
}

/** A zip with one stored member, written with zip64 records (sizes and offsets 0xffffffff in the classic fields). */
function zip64(name: string, body: Buffer): Buffer {
  const n = Buffer.from(name);
  const crc = zlib.crc32(body) >>> 0;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(45, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(0xffffffff, 18);
  local.writeUInt32LE(0xffffffff, 22);
  local.writeUInt16LE(n.length, 26);
  local.writeUInt16LE(20, 28);
  const localExtra = Buffer.alloc(20);
  localExtra.writeUInt16LE(1, 0);
  localExtra.writeUInt16LE(16, 2);
  localExtra.writeBigUInt64LE(BigInt(body.length), 4);
  localExtra.writeBigUInt64LE(BigInt(body.length), 12);
  const localPart = Buffer.concat([local, n, localExtra, body]);
  const cd = Buffer.alloc(46);
  cd.writeUInt32LE(0x02014b50, 0);
  cd.writeUInt16LE(45, 4);
  cd.writeUInt16LE(45, 6);
  cd.writeUInt32LE(crc, 16);
  cd.writeUInt32LE(0xffffffff, 20);
  cd.writeUInt32LE(0xffffffff, 24);
  cd.writeUInt16LE(n.length, 28);
  cd.writeUInt16LE(28, 30);
  cd.writeUInt32LE(0xffffffff, 42);
  const cdExtra = Buffer.alloc(28);
  cdExtra.writeUInt16LE(1, 0);
  cdExtra.writeUInt16LE(24, 2);
  cdExtra.writeBigUInt64LE(BigInt(body.length), 4);
  cdExtra.writeBigUInt64LE(BigInt(body.length), 12);
  cdExtra.writeBigUInt64LE(0n, 20);
  const cdPart = Buffer.concat([cd, n, cdExtra]);
  const z64 = Buffer.alloc(56);
  z64.writeUInt32LE(0x06064b50, 0);
  z64.writeBigUInt64LE(44n, 4);
  z64.writeBigUInt64LE(1n, 24);
  z64.writeBigUInt64LE(1n, 32);
  z64.writeBigUInt64LE(BigInt(cdPart.length), 40);
  z64.writeBigUInt64LE(BigInt(localPart.length), 48);
  const loc = Buffer.alloc(20);
  loc.writeUInt32LE(0x07064b50, 0);
  loc.writeBigUInt64LE(BigInt(localPart.length + cdPart.length), 8);
  loc.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([localPart, cdPart, z64, loc, eocd]);
}

describe('data/features-dir: numpy features made elsewhere', () => {
  after(() => {
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('reads numpy .npy files (float32 features, int64 labels) with the sha256 of every file', async () => {
    const dir = path.join(FIXTURES, 'npy-f32-i64');
    const f = await readExternalFeatures(dir);
    expectFormula(f);
    expect(f.location).to.equal(dir);
    for (const name of ['train_features.npy', 'train_labels.npy', 'test_features.npy', 'test_labels.npy']) {
      expect(f.files[name]).to.equal(createHash('sha256').update(fs.readFileSync(path.join(dir, name))).digest('hex'));
    }
    expect(f.checksum).to.match(/^[0-9a-f]{64}$/);
    expect(externalClasses(dir)).to.deep.equal({ numClasses: 3, classNames: undefined });
  });

  it('reads big-endian Fortran-order float32 with uint16 labels', async () => {
    expectFormula(await readExternalFeatures(path.join(FIXTURES, 'npy-fortran-be')));
  });

  it('reads np.savez (stored, float64 / uint8) and np.savez_compressed (deflated, float16 / int32) archives, as a file or as the folder holding it', async () => {
    expectFormula(await readExternalFeatures(path.join(FIXTURES, 'savez-f64-u8.npz')));
    const f = await readExternalFeatures(path.join(FIXTURES, 'savez-compressed-f16-i32.npz'));
    expectFormula(f);
    expect(Object.keys(f.files)).to.deep.equal(['savez-compressed-f16-i32.npz']);
    const dir = tmp();
    fs.copyFileSync(path.join(FIXTURES, 'savez-f64-u8.npz'), path.join(dir, 'feats.npz'));
    fs.writeFileSync(path.join(dir, 'class_names.txt'), 'zero\none\ntwo\n');
    const g = await readExternalFeatures(dir);
    expectFormula(g);
    expect(g.classNames).to.deep.equal(['zero', 'one', 'two']);
    expect(Object.keys(g.files).sort()).to.deep.equal(['class_names.txt', 'feats.npz']);
  });

  it('reads zip64 records (sizes and offsets in the zip64 extra field and end record)', () => {
    const dir = tmp();
    const file = path.join(dir, 'z64.npz');
    fs.writeFileSync(file, zip64('train_labels.npy', fs.readFileSync(path.join(FIXTURES, 'npy-f32-i64', 'train_labels.npy'))));
    const z = new Npz(file);
    try {
      expect(z.keys()).to.deep.equal(['train_labels']);
      expect(Array.from(toLabels(z.array('train_labels'), 'train_labels'))).to.deep.equal([0, 1, 2, 0, 1, 2]);
    } finally {
      z.close();
    }
  });

  it('half floats decode exactly (normal, subnormal, infinities)', () => {
    expect(halfToFloat(0x3c00)).to.equal(1);
    expect(halfToFloat(0xc000)).to.equal(-2);
    expect(halfToFloat(0x0001)).to.equal(2 ** -24);
    expect(halfToFloat(0x7c00)).to.equal(Infinity);
    expect(halfToFloat(0x45e0)).to.equal(5.875);
  });

  it('damaged or unsuitable files: one UserError naming the file and what is wrong', async () => {
    const cases: [string, string, (b: Buffer) => Buffer, RegExp][] = [
      ['truncated features', 'train_features.npy', (b) => b.subarray(0, b.length - 5), /train_features\.npy.*truncated: 219 bytes/],
      ['trailing bytes', 'test_labels.npy', (b) => Buffer.concat([b, Buffer.alloc(8)]), /test_labels\.npy.*trailing bytes/],
      ['no magic', 'train_labels.npy', (b) => Buffer.concat([Buffer.from('NOTNPY'), b.subarray(6)]), /train_labels\.npy.*magic/],
      ['header cut', 'train_labels.npy', (b) => b.subarray(0, 40), /train_labels\.npy.*truncated header/],
      ['float labels', 'train_labels.npy', () => npy('<f4', [6], Buffer.from(new Float32Array([0, 1, 2, 0, 1, 2]).buffer)), /train_labels.*dtype '<f4'.*integers/],
      ['negative label', 'train_labels.npy', () => npy('<i4', [6], Buffer.from(new Int32Array([0, 1, 2, 0, -1, 2]).buffer)), /train_labels\[4\] is -1/],
      ['label gap', 'train_labels.npy', () => npy('<i4', [6], Buffer.from(new Int32Array([0, 3, 3, 0, 3, 3]).buffer)), /classes 1, 2 have no training sample/],
      ['test-only class', 'test_labels.npy', () => npy('<i4', [3], Buffer.from(new Int32Array([0, 1, 7]).buffer)), /test_labels\[2\] is 7/],
      ['class without test sample', 'test_labels.npy', () => npy('<i4', [3], Buffer.from(new Int32Array([0, 1, 1]).buffer)), /class 2 has no test sample/],
      ['label count', 'train_labels.npy', () => npy('<i4', [5], Buffer.from(new Int32Array([0, 1, 2, 0, 1]).buffer)), /train_features has 6 rows but train_labels has 5/],
      ['1-D features', 'train_features.npy', () => npy('<f4', [24], Buffer.alloc(96)), /train_features has shape \(24\).*2-D/],
      ['NaN feature', 'test_features.npy', () => npy('<f4', [3, 4], Buffer.from(new Float32Array([0, 0, 0, 0, 0, NaN, 0, 0, 0, 0, 0, 0]).buffer)), /test_features\.npy: test_features holds 1 non-finite value of 12 \(first: NaN at row 1, feature 1\)/],
      ['infinite features', 'train_features.npy', () => npy('<f4', [6, 4], Buffer.from(new Float32Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -Infinity, 0, Infinity, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).buffer)), /train_features\.npy: train_features holds 2 non-finite values of 24 \(first: -Infinity at row 2, feature 3\)/],
      ['float64 beyond float32', 'train_features.npy', () => npy('<f8', [6, 4], Buffer.from(new Float64Array([0, 0, 0, 0, 1e300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).buffer)), /train_features holds 1 non-finite value of 24 \(first: Infinity at row 1, feature 0\) \(float64 values beyond the float32 range count as infinite\)/],
      ['dim mismatch', 'test_features.npy', () => npy('<f4', [3, 2], Buffer.alloc(24)), /dim 4 but test_features dim 2/],
      ['object dtype', 'train_labels.npy', () => fs.readFileSync(path.join(FIXTURES, 'object.npy')), /dtype object/],
    ];
    for (const [what, file, edit, pattern] of cases) {
      const e = await rejectedUserError(() => readExternalFeatures(damagedCopy(file, edit)));
      expect(e.message, what).to.match(pattern);
      expect(e.hint, what).to.be.a('string').and.not.equal('');
    }
  });

  it('damaged .npz archives: cut short, CRC mismatch, missing array', async () => {
    const good = fs.readFileSync(path.join(FIXTURES, 'savez-f64-u8.npz'));
    const dir = tmp();
    const cut = path.join(dir, 'cut.npz');
    fs.writeFileSync(cut, good.subarray(0, good.length - 30));
    expect((await rejectedUserError(() => readExternalFeatures(cut))).message).to.match(/cut\.npz.*end-of-central-directory/);
    const flipped = Buffer.from(good);
    flipped[200] ^= 0xff; // inside train_features.npy's data (stored)
    const crc = path.join(dir, 'crc.npz');
    fs.writeFileSync(crc, flipped);
    expect((await rejectedUserError(() => readExternalFeatures(crc))).message).to.match(/crc\.npz member train_features\.npy: CRC-32 mismatch/);
    const deflated = Buffer.from(fs.readFileSync(path.join(FIXTURES, 'savez-compressed-f16-i32.npz')));
    deflated[80] ^= 0x55;
    const bad = path.join(dir, 'inflate.npz');
    fs.writeFileSync(bad, deflated);
    expect((await rejectedUserError(() => readExternalFeatures(bad))).message).to.match(/inflate\.npz.*(does not inflate|CRC-32 mismatch|bytes, its directory entry)/);
    const one = path.join(dir, 'one.npz');
    fs.writeFileSync(one, zip64('train_labels.npy', fs.readFileSync(path.join(FIXTURES, 'npy-f32-i64', 'train_labels.npy'))));
    expect((await rejectedUserError(() => readExternalFeatures(one))).message).to.match(/has no array "train_features"/);
  });

  it('a folder that is neither layout, or lacks a file: names what is missing', async () => {
    const dir = damagedCopy('x', (b) => b);
    fs.rmSync(path.join(dir, 'test_labels.npy'));
    expect((await rejectedUserError(() => readExternalFeatures(dir))).message).to.match(/lacks test_labels\.npy/);
    expect((await rejectedUserError(() => readExternalFeatures(tmp()))).message).to.match(/neither the four \.npy files nor an \.npz/);
    expect((await rejectedUserError(() => readExternalFeatures(path.join(FIXTURES, 'nope')))).message).to.match(/does not exist/);
    const names = damagedCopy('x', (b) => b);
    fs.writeFileSync(path.join(names, 'class_names.txt'), 'a\nb\n');
    expect((await rejectedUserError(() => readExternalFeatures(names))).message).to.match(/lists 2 class names but the labels have 3 classes/);
  });

  it('parseNpy + toFloat32Matrix agree with the fast path on every fixture dtype', () => {
    const a = parseNpy(fs.readFileSync(path.join(FIXTURES, 'npy-fortran-be', 'train_features.npy')), 'be');
    expect(a.header).to.deep.include({ descr: '>f4', fortranOrder: true, littleEndian: false, shape: [6, 4] });
    const m = toFloat32Matrix(a, 'x');
    expect(Array.from(m.x.subarray(20, 24))).to.deep.equal([5, 5.125, 5.25, 5.375]);
  });
});
