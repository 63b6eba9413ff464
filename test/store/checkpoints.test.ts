import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkpointDigest, checkpointPath, readCheckpoint, removeCheckpoint, writeCheckpoint, type Checkpoint } from '../../src/store/checkpoints.js';

describe('store/checkpoints: typed arrays in a sidecar', () => {
  let tmp: string;
  let store: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-ckpt-'));
    store = path.join(tmp, 'db.json');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const sidecars = (): string[] => fs.readdirSync(path.dirname(checkpointPath(store, 'r1'))).filter((n) => n.endsWith('.bin'));

  it('a state without typed arrays stays plain JSON (no sidecar)', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'nmc', state: { a: [1, 2.5] } });
    const raw = JSON.parse(fs.readFileSync(checkpointPath(store, 'r1'), 'utf8'));
    expect(raw).to.deep.include({ format: 'cl-checkpoint', version: 2, run: 'r1', task: 0, method: 'nmc', state: { a: [1, 2.5] } });
    expect(raw).to.not.have.property('binary');
    expect(sidecars()).to.deep.equal([]);
  });

  it('round-trips float64 bits exactly, other dtypes, odd lengths and nesting', async () => {
    const f64 = Float64Array.from([1 + 2 ** -52, -0, 5e-324, Math.PI, -1e300]);
    const f32 = Float32Array.from([0.1, 3]); // 8 bytes
    const i32 = Int32Array.from([-7]); // 4 bytes: the next array must still be aligned
    const after = Float64Array.from([42]);
    const view = new Float64Array(new ArrayBuffer(64), 16, 2); // a view at an offset
    view.set([7, 8]);
    const state = { f64, nested: [{ f32, i32 }, { after }], view, n: 3 };
    await writeCheckpoint(store, { run: 'r1', task: 2, method: 'fecam', state });
    const raw = JSON.parse(fs.readFileSync(checkpointPath(store, 'r1'), 'utf8'));
    expect(raw.state.f64).to.deep.equal({ $typed: 'float64', offset: 0, length: 5 });
    expect(raw.binary.file).to.match(/^r1\.[0-9a-f]+\.bin$/);
    const { checkpoint, why } = await readCheckpoint(store, 'r1');
    expect(why).to.equal(null);
    const st = checkpoint!.state as typeof state;
    expect(st.f64).to.be.instanceOf(Float64Array);
    expect(Array.from(st.f64)).to.deep.equal(Array.from(f64));
    expect(Object.is(st.f64[1], -0)).to.equal(true);
    expect(Array.from(st.nested[0].f32!)).to.deep.equal(Array.from(f32));
    expect(Array.from(st.nested[0].i32!)).to.deep.equal([-7]);
    expect(Array.from(st.nested[1].after!)).to.deep.equal([42]);
    expect(Array.from(st.view)).to.deep.equal([7, 8]);
    expect(st.n).to.equal(3);
  });

  it('a new checkpoint replaces the old sidecar; removing the checkpoint removes sidecar and folder', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'slda', state: { s: Float64Array.from([1]) } });
    const first = sidecars();
    await writeCheckpoint(store, { run: 'r1', task: 1, method: 'slda', state: { s: Float64Array.from([2]) } });
    const second = sidecars();
    expect(second).to.have.length(1);
    expect(second[0]).to.not.equal(first[0]);
    const { checkpoint } = await readCheckpoint(store, 'r1');
    expect(Array.from((checkpoint!.state as { s: Float64Array }).s)).to.deep.equal([2]);
    await removeCheckpoint(store, 'r1');
    expect(fs.existsSync(path.dirname(checkpointPath(store, 'r1')))).to.equal(false);
  });

  it('a missing or truncated sidecar makes the checkpoint unusable, with the reason', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'slda', state: { s: new Float64Array(10) } });
    const bin = path.join(path.dirname(checkpointPath(store, 'r1')), sidecars()[0]);
    fs.truncateSync(bin, 40);
    expect((await readCheckpoint(store, 'r1')).why).to.match(/has 40 bytes, the checkpoint expects 80/);
    fs.rmSync(bin);
    expect((await readCheckpoint(store, 'r1')).why).to.match(/array file .* is missing/);
  });

  it('a sidecar name that is not this run’s is refused (no path traversal)', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'slda', state: { s: new Float64Array(1) } });
    const file = checkpointPath(store, 'r1');
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    raw.binary.file = '../../etc/passwd';
    fs.writeFileSync(file, JSON.stringify(raw));
    expect((await readCheckpoint(store, 'r1')).why).to.match(/does not match its checksum/);
    // Even with a checksum that matches the edited content.
    raw.sha256 = checkpointDigest(raw as Checkpoint);
    fs.writeFileSync(file, JSON.stringify(raw));
    expect((await readCheckpoint(store, 'r1')).why).to.match(/names no valid sidecar/);
  });

  it('a sidecar changed after it was written fails its checksum (same length, one byte flipped)', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'slda', state: { s: Float64Array.from([1, 2, 3]) } });
    expect((await readCheckpoint(store, 'r1')).why).to.equal(null);
    const bin = path.join(path.dirname(checkpointPath(store, 'r1')), sidecars()[0]);
    const bytes = fs.readFileSync(bin);
    bytes[3] ^= 1;
    fs.writeFileSync(bin, bytes);
    expect((await readCheckpoint(store, 'r1')).why).to.match(/r1\.[0-9a-f]+\.bin does not match its checksum/);
  });

  it('the JSON checksum covers the typed-array references and the sidecar entry', async () => {
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'slda', state: { a: Float64Array.from([1, 2]), b: Float64Array.from([3]) } });
    const file = checkpointPath(store, 'r1');
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(raw.sha256).to.equal(checkpointDigest(raw as Checkpoint));
    // Swapping two references keeps every byte of the sidecar valid: only the checksum notices.
    [raw.state.a, raw.state.b] = [raw.state.b, raw.state.a];
    fs.writeFileSync(file, JSON.stringify(raw));
    expect((await readCheckpoint(store, 'r1')).why).to.match(/does not match its checksum/);
  });
});
