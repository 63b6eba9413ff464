import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadMnistEmbedded, mnistDigitsDir } from '../../src/data/mnist-embedded.js';
import type { ImageDataset } from '../../src/types.js';

const digest = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

describe('data/mnist-embedded', function () {
  this.timeout(60_000);
  let a: ImageDataset;
  before(async () => {
    a = await loadMnistEmbedded();
  });

  it('splits each class 80/20 in package order, deterministically, as uint8 28x28x1', async () => {
    const b = await loadMnistEmbedded();
    expect(digest(a.train.images)).to.equal(digest(b.train.images));
    expect(digest(a.test.images)).to.equal(digest(b.test.images));
    expect(Array.from(a.train.labels)).to.deep.equal(Array.from(b.train.labels));
    expect(a.source.verified).to.equal('embedded');
    expect([a.train.height, a.train.width, a.train.channels]).to.deep.equal([28, 28, 1]);
    expect(a.train.count + a.test.count).to.equal(10_000);

    // independent expectation from the package's raw JSON
    const dir = mnistDigitsDir();
    let trainAt = 0;
    let testAt = 0;
    for (let d = 0; d < 10; d++) {
      const raw = (JSON.parse(await fs.readFile(path.join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
      const n = raw.length / 784;
      const nTrain = Math.round(0.8 * n);
      const trainOfD = a.train.labels.filter((l) => l === d).length;
      const testOfD = a.test.labels.filter((l) => l === d).length;
      expect([trainOfD, testOfD], `digit ${d}`).to.deep.equal([nTrain, n - nTrain]);
      // first train image and first test image of this digit, pixel by pixel
      const firstTrain = Uint8Array.from(raw.slice(0, 784), (v) => Math.round(v * 255));
      const firstTest = Uint8Array.from(raw.slice(nTrain * 784, (nTrain + 1) * 784), (v) => Math.round(v * 255));
      expect(Buffer.compare(a.train.images.subarray(trainAt * 784, (trainAt + 1) * 784), firstTrain)).to.equal(0);
      expect(Buffer.compare(a.test.images.subarray(testAt * 784, (testAt + 1) * 784), firstTest)).to.equal(0);
      trainAt += nTrain;
      testAt += n - nTrain;
    }
  });

  it('train and test are disjoint (no test image also appears in train)', () => {
    const ds = a;
    const seen = new Set<string>();
    for (let i = 0; i < ds.train.count; i++) seen.add(digest(ds.train.images.subarray(i * 784, (i + 1) * 784)));
    let shared = 0;
    for (let i = 0; i < ds.test.count; i++) if (seen.has(digest(ds.test.images.subarray(i * 784, (i + 1) * 784)))) shared++;
    expect(shared).to.equal(0);
    expect(ds.train.images.reduce((m, v) => Math.max(m, v), 0)).to.equal(255);
  });
});
