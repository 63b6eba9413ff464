// Preloaded into a benchmarked `cl` process (node --import): writes its peak RSS (KiB) to $CL_BENCH_RSS at exit.
import { writeFileSync } from 'node:fs';
import process from 'node:process';

process.on('exit', () => {
  if (process.env.CL_BENCH_RSS) writeFileSync(process.env.CL_BENCH_RSS, String(process.resourceUsage().maxRSS));
});
