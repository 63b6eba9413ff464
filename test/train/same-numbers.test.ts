/**
 * Speed changes must not move a single number (issue 14). Every tfjs-trained method runs a small
 * seeded class-incremental stream on the wasm backend; a sha256 over what it learned — every
 * prediction (and extra prediction) after every task, the per-task training losses, γ and row
 * norms of its state summary, and every number of its checkpoint state where it has one — is compared with the value the code produced before the speed
 * work (commit 6f54409, wasm backend). Any change in the order or kind of float operations of a
 * training step, of herding or of the exemplar bookkeeping changes these hashes.
 *
 * wasm SIMD has no fused multiply-add and its own libm, so these bits are the same on every CPU;
 * the test runs on wasm only (skipped when CL_BACKEND picks another backend).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { resolveCompatOptions } from '../../src/compat/options.js';
import { trainVersion } from '../../src/compat/train.js';
import { retrievalMetrics } from '../../src/eval/retrieval.js';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { Rng } from '../../src/rng.js';
import { initBackend } from '../../src/tf.js';
import type { Learner } from '../../src/types.js';
import { experiences, gaussianClusters } from './synthetic.js';

const data = gaussianClusters({ classes: 12, dim: 40, trainPerClass: 50, testPerClass: 40, sigma: 1.2, seed: 3, nonNegative: true });
// Wider features for the adapter of napa-vq: its 160 × 128 first layer and 64-row batches make the
// weight gradient (1.3 M multiply-adds) big enough for train/ops.ts's blocked XNNPACK products.
const wide = gaussianClusters({ classes: 12, dim: 160, trainPerClass: 40, testPerClass: 20, sigma: 1.5, seed: 4, nonNegative: true });

function numbersOf(summary: Record<string, unknown>): unknown {
  const perTask = (summary.perTask ?? []) as Record<string, unknown>[];
  return perTask.map((r) => [r.finalLoss ?? null, r.gamma ?? null, r.meanOldNorm ?? null, r.meanNewNormBefore ?? null, r.meanNewNormAfter ?? null]);
}

/** Every number in a JSON-like value, depth first, except timings (keys ms / *Ms). */
function numbersIn(v: unknown, out: number[] = []): number[] {
  if (typeof v === 'number') out.push(v);
  else if (Array.isArray(v)) for (const x of v) numbersIn(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (k !== 'ms' && !k.endsWith('Ms')) numbersIn(x, out);
  }
  return out;
}

/**
 * The learned parts of a napa-vq / finetune-adapter checkpoint, independent of the checkpoint's
 * layout: version 1 kept graph and softminScale at the top level, version 2 (the hook-based
 * learners of issue 11) under `extra`, renamed finetune-adapter's format and dropped its unused
 * class graph. The numbers are what must not move, not where the checkpoint stores them.
 */
function learnedState(st: Record<string, unknown>): unknown {
  const extra = (st.extra ?? {}) as Record<string, unknown>;
  const tasks = (st.tasks ?? []) as Record<string, unknown>[];
  const graph = (st.graph ?? extra.graph ?? null) as number[] | null;
  return {
    adapter: st.adapter,
    codingVectors: st.codingVectors,
    units: st.units,
    standardisation: st.standardisation,
    // finetune-adapter has no class graph (config.graph false): version 1 stored an unused one, version 2 none
    graph: (st.config as Record<string, unknown> | undefined)?.graph === false ? null : graph,
    softminScale: st.softminScale ?? extra.softminScale ?? null,
    tasks: tasks.map((t) => [t.task, t.samples, t.epochs, t.steps, t.finalLoss ?? null]),
  };
}

async function fingerprint(method: string, options: Record<string, unknown>, d: typeof data): Promise<string> {
  const def = getMethod(method);
  const learner: Learner = def.create(resolveMethodOptions(def, options), { seed: 7, dim: d.train.dim, numClasses: 12 });
  const test = d.test;
  const h = createHash('sha256');
  try {
    for (const exp of experiences(d.train, 12, 3)) {
      await learner.learn(exp);
      h.update(Buffer.from(learner.predict(test).buffer));
      const extra = learner.extraPredictions?.(test) ?? {};
      for (const k of Object.keys(extra).sort()) h.update(k).update(Buffer.from(extra[k].buffer));
    }
    h.update(JSON.stringify(numbersOf(learner.stateSummary())));
    // Checkpointable learners (napa-vq): every learned number of the state (adapter weights,
    // coding vectors, prototypes, standardisation, graph, softmin scale, per-task losses and
    // steps), timings left out.
    if (learner.getState) h.update(JSON.stringify(numbersIn(learnedState(learner.getState() as Record<string, unknown>))));
  } finally {
    learner.dispose();
  }
  return h.digest('hex');
}

const CASES: [string, Record<string, unknown>, ('wide' | undefined)?][] = [
  ['wa', { epochs: 3, batchSize: 32, memory: 60 }],
  ['wa', { epochs: 3, batchSize: 32, memory: 60, head: 'mlp', hidden: 16, herding: 'der', bias: true }],
  ['replay', { epochs: 3, batchSize: 32, memory: 60 }],
  ['finetune', { epochs: 3, batchSize: 32 }],
  ['joint', { epochs: 2, batchSize: 32 }],
  ['napa-vq', { epochsBase: 3, epochs: 2, batchSize: 32, hidden: 16, embedDim: 8, napaSamples: 8, k: 4 }],
  ['finetune-adapter', { epochsBase: 3, epochs: 2, batchSize: 32, hidden: 16, embedDim: 8 }],
  ['napa-vq', { epochsBase: 2, epochs: 1, batchSize: 64, hidden: 128, embedDim: 32, napaSamples: 16, k: 4 }, 'wide'],
];

// Computed by the code before the speed work (commit 6f54409) on the wasm backend. The three
// napa-vq / finetune-adapter values hash learnedState() (the checkpoint layout changed with issue
// 11); they were computed at commit 855da5e, whose code gave 6f54409's values for the whole state.
const EXPECTED: Record<string, string> = {
  compat: '8c278048aca69fbef3e5b2f423b32a229de1c4cfb49ddf45510693753bf88d51',
  'wa {"epochs":3,"batchSize":32,"memory":60}': '69a3fe24b201d64a7bb05cd641b3684fb9c75f46c97f94009fcd2ec3c2df21a4',
  'wa {"epochs":3,"batchSize":32,"memory":60,"head":"mlp","hidden":16,"herding":"der","bias":true}': 'd3c167229cf122386d3a25dedbf818265e15f38d5316cb4d0120666bf497d72f',
  'replay {"epochs":3,"batchSize":32,"memory":60}': '4d71c54c55bd6567a91e00e1761b3f9c1964c2e1d5832d80154ebd8963830ec2',
  'finetune {"epochs":3,"batchSize":32}': '918dc30a85fc2e92bf020ae71caf0f46a49fb0eb55e5cb8954450056a9fbe18f',
  'joint {"epochs":2,"batchSize":32}': 'f65aeeabfe917eb716a903f4ca20290c3c2b745cbcec74383f3312a4d0d75b71',
  'napa-vq {"epochsBase":3,"epochs":2,"batchSize":32,"hidden":16,"embedDim":8,"napaSamples":8,"k":4}': '104f384d44e0cb373da94afb291a98e43631576f15c73515465a3c60842bf580',
  'finetune-adapter {"epochsBase":3,"epochs":2,"batchSize":32,"hidden":16,"embedDim":8}': '05c23969d1a0bd8d0bf22e5bb5f40f2a4f27b740e0069bfbc49a395189995425',
  'napa-vq {"epochsBase":2,"epochs":1,"batchSize":64,"hidden":128,"embedDim":32,"napaSamples":16,"k":4} wide': '9a5c6aa011f40903981ecdec9a0605afe1e45b9fd6f37f8118c1498039a95d8b',
};

/** cl compat: three versions (plain, bct, oca) and the retrieval cells between them. */
async function compatFingerprint(): Promise<string> {
  const classes = Array.from({ length: 12 }, (_, i) => i);
  const options = resolveCompatOptions({ d: 8, k: 4, hidden: 24, epochs: 3, batchSize: 32 });
  const h = createHash('sha256');
  const v1 = await trainVersion({ role: 'plain', version: 1, train: data.train, classes, previous: null, dim: 8, options, rng: new Rng(1) });
  const v2 = await trainVersion({ role: 'bct', version: 2, train: data.train, classes, previous: v1.model, dim: 8, options, rng: new Rng(2) });
  const v3 = await trainVersion({ role: 'oca', version: 3, train: data.train, classes, previous: v2.model, dim: 12, options, rng: new Rng(3) });
  const ids = Int32Array.from({ length: data.test.count }, (_, i) => i);
  const sets = [v1, v2, v3].map((v) => ({ x: v.model.embed(data.test.x, data.test.count), dim: v.model.dim, labels: data.test.y, ids }));
  for (const v of [v1, v2, v3]) h.update(JSON.stringify(v.epochLosses));
  for (const s of sets) h.update(Buffer.from(s.x.buffer));
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      const r = retrievalMetrics(sets[i], sets[j], { topK: [1, 5], excludeSameId: true });
      h.update(JSON.stringify([r.cmc, r.mAP, Array.from(r.perQueryAP)]));
    }
  }
  return h.digest('hex');
}

describe('same numbers as before the speed work (wasm)', function () {
  this.timeout(300000);
  before(async function () {
    const b = await initBackend();
    if (b.name !== 'wasm') this.skip();
  });

  it('compat: plain, bct, oca versions and their retrieval cells', async () => {
    const got = await compatFingerprint();
    if (process.env.CL_PRINT_FINGERPRINTS) console.log(`    'compat': '${got}',`);
    expect(got).to.equal(EXPECTED.compat);
  });

  for (const [method, options, which] of CASES) {
    const key = `${method} ${JSON.stringify(options)}${which ? ` ${which}` : ''}`;
    it(key, async () => {
      const got = await fingerprint(method, options, which === 'wide' ? wide : data);
      if (process.env.CL_PRINT_FINGERPRINTS) console.log(`    '${key}': '${got}',`);
      expect(got).to.equal(EXPECTED[key]);
    });
  }
});
