// Preloaded into a benchmarked `cl` process (node --import): at exit, writes its peak RSS (KiB) and
// CPU time (user + system, ms) as JSON to $CL_BENCH_RSS.
import { writeFileSync } from 'node:fs';
import process from 'node:process';

process.on('exit', () => {
  const u = process.resourceUsage();
  if (process.env.CL_BENCH_RSS) writeFileSync(process.env.CL_BENCH_RSS, JSON.stringify({ maxRSS: u.maxRSS, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 }));
});
