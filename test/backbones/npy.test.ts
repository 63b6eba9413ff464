import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { decodeNpy, encodeNpy, npyHeader, readNpy, writeNpy } from '../../src/backbones/npy.js';

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('backbones/npy', () => {
  let dir: string;
  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-npy-'));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('writes the exact NumPy 1.0 header bytes', () => {
    const h = npyHeader('<f4', [2, 3]);
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    // 6 magic + 2 version + 2 length + dict + padding + '\n' = 128 (next multiple of 64 above 10 + 60 + 1)
    expect(h.length).to.equal(128);
    expect(Array.from(h.subarray(0, 8))).to.deep.equal([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    expect(h.readUInt16LE(8)).to.equal(118);
    expect(h.toString('latin1', 10, 10 + dict.length)).to.equal(dict);
    expect(h.toString('latin1', 10 + dict.length, 127)).to.equal(' '.repeat(127 - 10 - dict.length));
    expect(h[127]).to.equal(0x0a);
    expect(npyHeader('<i4', [5]).toString('latin1', 10, 10 + 57)).to.equal("{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }");
  });

  it('round-trips float32 2-D and int32 1-D arrays, data starting on a 64-byte boundary', async () => {
    const x = Float32Array.from([1.5, -2, 3.25, Number.MAX_VALUE, 0, 1e-30]);
    const y = Int32Array.from([7, -1, 2147483647]);
    await writeNpy(path.join(dir, 'x.npy'), x, [2, 3]);
    await writeNpy(path.join(dir, 'y.npy'), y, [3]);
    const rx = await readNpy(path.join(dir, 'x.npy'));
    const ry = await readNpy(path.join(dir, 'y.npy'));
    expect(rx.dtype).to.equal('<f4');
    expect(rx.shape).to.deep.equal([2, 3]);
    expect(Array.from(rx.data)).to.deep.equal(Array.from(x));
    expect(ry.dtype).to.equal('<i4');
    expect(ry.shape).to.deep.equal([3]);
    expect(Array.from(ry.data)).to.deep.equal([7, -1, 2147483647]);
    expect((await fsp.stat(path.join(dir, 'x.npy'))).size).to.equal(128 + 24);
    expect(encodeNpy(x, [2, 3]).equals(await fsp.readFile(path.join(dir, 'x.npy')))).to.equal(true);
    // empty arrays too
    const e = decodeNpy(encodeNpy(new Float32Array(0), [0, 4]));
    expect(e.shape).to.deep.equal([0, 4]);
    expect(e.data.length).to.equal(0);
  });

  it('rejects a truncated, corrupt or unsupported file with a UserError naming it', async () => {
    const good = encodeNpy(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const file = path.join(dir, 'bad.npy');
    const cases: [Buffer, RegExp][] = [
      [good.subarray(0, good.length - 1), /truncated/],
      [good.subarray(0, 60), /truncated header/],
      [good.subarray(0, 5), /magic/],
      [Buffer.concat([good, Buffer.from([0])]), /trailing bytes/],
      [Buffer.from(good.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1'), /dtype <f8/],
      [Buffer.from(good.toString('latin1').replace('False', 'True '), 'latin1'), /Fortran/],
      [Buffer.from(good.toString('latin1').replace('(2, 2)', '(4,1,1)'), 'latin1'), /1-D and 2-D/],
    ];
    for (const [buf, re] of cases) {
      await fsp.writeFile(file, buf);
      let err: unknown;
      try {
        await readNpy(file);
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.include(file).and.match(re);
    }
    let missing: unknown;
    try {
      await readNpy(path.join(dir, 'nope.npy'));
    } catch (e) {
      missing = e;
    }
    expect(missing).to.be.instanceOf(UserError);
    expect((missing as UserError).message).to.match(/nope\.npy.*ENOENT/);
  });

  it('is read by numpy and matches numpy.save byte for byte (needs python3 + numpy)', async function () {
    if (!hasNumpy()) this.skip();
    const x = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 1);
    const y = Int32Array.from([3, 1, 4, 1, 5]);
    await writeNpy(path.join(dir, 'a.npy'), x, [3, 4]);
    await writeNpy(path.join(dir, 'b.npy'), y, [5]);
    const script = [
      'import numpy as np, sys, io',
      `a = np.load(${JSON.stringify(path.join(dir, 'a.npy'))}); b = np.load(${JSON.stringify(path.join(dir, 'b.npy'))})`,
      'assert a.dtype == np.float32 and a.shape == (3, 4), (a.dtype, a.shape)',
      'assert b.dtype == np.int32 and b.shape == (5,), (b.dtype, b.shape)',
      'assert (a == (np.arange(12, dtype=np.float32) * 0.5 - 1).reshape(3, 4)).all()',
      'assert b.tolist() == [3, 1, 4, 1, 5]',
      'buf = io.BytesIO(); np.save(buf, a)',
      `assert buf.getvalue() == open(${JSON.stringify(path.join(dir, 'a.npy'))}, 'rb').read(), 'bytes differ from np.save'`,
      'print("ok")',
    ].join('\n');
    expect(execFileSync('python3', ['-c', script]).toString().trim()).to.equal('ok');
  });
});
