/**
 * `npm run bench`: every benchmark in turn, printing figures (no assertions on time).
 * Real-data benchmarks read the shared datasets/models through CL_SHARED_DIR, like the tests.
 *
 * The store benchmark runs stores of 1,000 and 10,000 CIFAR-100 run records by default;
 * `npm run bench -- --store-records 100000` adds that size (~2.5 GB on disk, tens of minutes).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extra = process.argv.indexOf('--store-records');
const storeSizes = ['1000', '10000', ...(extra >= 0 ? [process.argv[extra + 1]] : [])].join(',');
const benches: [string, string[]][] = [
  ['extract.ts', []],
  ['wa-epoch.ts', []],
  ['retrieval.ts', []],
  // CIFAR-100 written as PNGs by cifar-png.ts (CL_CIFAR_PNG=<that folder>)
  ['imagefolder.ts', [process.env.CL_CIFAR_PNG ?? '']],
  // The closed-form learners: their float64 product engine, then cl vs numpy on the cached
  // CIFAR-100 features (skips itself without them or without numpy).
  ['gemm.ts', []],
  ['closed-form.ts', []],
  ['store.ts', ['--sizes', storeSizes]],
];
let failed = 0;
for (const [file, args] of benches) {
  if ((file === 'extract.ts' || file === 'imagefolder.ts' || file === 'store.ts') && !process.env.CL_SHARED_DIR) {
    console.log(`== ${file}: skipped (set CL_SHARED_DIR to the folder holding datasets/ and models/)`);
    continue;
  }
  if (file === 'imagefolder.ts' && !process.env.CL_CIFAR_PNG) {
    console.log(`== ${file}: skipped (write CIFAR-100 as PNGs with test/bench/cifar-png.ts and set CL_CIFAR_PNG to that folder)`);
    continue;
  }
  console.log(`== ${file}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, file), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
