/** `cl cache ls|rm`: the feature cache (features extracted once per dataset, split, backbone, preprocessing). */
import type { Command } from 'commander';
import { listFeatureCache, removeFeatureCache } from '../backbones/feature-cache.js';
import { UserError } from '../errors.js';
import { cacheRoot, featureCacheDir } from '../paths.js';
import { action, pathOption } from './common.js';
import { printable, printableDeep } from '../report/printable.js';

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function register(program: Command): void {
  const cache = program.command('cache').description('inspect or clear the feature cache');
  cache
    .command('ls')
    .description('list cached feature sets')
    .option('--cache-dir <dir>', 'cache root; env CL_CACHE_DIR', pathOption('--cache-dir', 'folder'))
    .option('--json', 'print entries as JSON')
    .action(
      action(async (opts: { cacheDir?: string; json?: boolean }) => {
        const root = opts.cacheDir ?? cacheRoot();
        const found = await listFeatureCache(root);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
          return;
        }
        // Sidecars and paths are outside text: shown through printable.
        const entries = printableDeep(found);
        const dir = printable(featureCacheDir(root));
        if (entries.length === 0) {
          process.stdout.write(`feature cache ${dir} is empty\n`);
          return;
        }
        process.stdout.write(`feature cache ${dir}\n`);
        for (const e of entries) {
          process.stdout.write(
            `${e.id}  ${e.dataset}/${e.split}  ${e.count} × ${e.dim}  ${fmtBytes(e.bytes)}  ${e.createdAt}  ${e.backbone}\n`,
          );
        }
      }),
    );
  cache
    .command('rm')
    .description('remove cached feature sets')
    .argument('[ids...]', 'entry ids or unique prefixes')
    .option('--all', 'remove every entry')
    .option('--cache-dir <dir>', 'cache root; env CL_CACHE_DIR', pathOption('--cache-dir', 'folder'))
    .action(
      action(async (ids: string[], opts: { cacheDir?: string; all?: boolean }) => {
        const root = opts.cacheDir ?? cacheRoot();
        if (!opts.all && ids.length === 0) throw new UserError('nothing to remove', 'name entry ids (see `cl cache ls`) or pass --all');
        const removed = opts.all ? await removeFeatureCache(root, { all: true }) : (await Promise.all(ids.map((id) => removeFeatureCache(root, id)))).flat();
        process.stdout.write(`removed ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'}\n`);
      }),
    );
}
