/** `cl cache ls|rm`: what cl keeps in its cache root: feature sets, datasets and models, with sizes. */
import { Option, type Command } from 'commander';
import { CACHE_KINDS, listCache, removeCacheEntries, type CacheKind } from '../cache-entries.js';
import { UserError } from '../errors.js';
import { cacheRoot, hfHubCacheDir } from '../paths.js';
import { renderTable } from '../report/table.js';
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

const kindOption = () => new Option('--kind <kind>', 'only entries of this kind').choices(CACHE_KINDS);

export function register(program: Command): void {
  const cache = program.command('cache').description('inspect or clear the cache: extracted features, datasets, models');
  cache
    .command('ls')
    .description('list the cache entries (features, datasets, models) with their sizes')
    .addOption(kindOption())
    .option('--cache-dir <dir>', 'cache root; env CL_CACHE_DIR', pathOption('--cache-dir', 'folder'))
    .option('--json', 'print entries as JSON')
    .action(
      action(async (opts: { cacheDir?: string; json?: boolean; kind?: CacheKind }) => {
        const root = opts.cacheDir ?? cacheRoot();
        const found = await listCache(root, opts.kind ? [opts.kind] : CACHE_KINDS);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
          return;
        }
        // Sidecars, file names and paths are outside text: shown through printable.
        const entries = printableDeep(found);
        const dir = printable(root);
        if (entries.length === 0) {
          process.stdout.write(`cache ${dir} holds no ${opts.kind ?? 'entries'}\n`);
          return;
        }
        const total = entries.reduce((s, e) => s + e.bytes, 0);
        const rows = entries.map((e) => [e.kind, e.id, fmtBytes(e.bytes), e.modifiedAt.slice(0, 19).replace('T', ' '), e.what]);
        const hub = entries.some((e) => e.shared) ? ` (hf-hub/: the Hugging Face hub cache ${printable(hfHubCacheDir())})` : '';
        process.stdout.write(`cache ${dir}${hub}: ${entries.length} entries, ${fmtBytes(total)}\n${renderTable(['kind', 'id', 'size', 'modified (UTC)', 'what'], rows, { align: ['left', 'left', 'right', 'left', 'left'] })}\n`);
      }),
    );
  cache
    .command('rm')
    .description('remove cache entries: feature-set ids (or unique prefixes), datasets/<name>, models/<path>, hf-hub/<repo>')
    .argument('[ids...]', 'entry ids as `cl cache ls` shows them')
    .option('--all', 'remove every entry (of --kind, when given) except the Hugging Face hub cache, which other programs share')
    .addOption(kindOption())
    .option('--cache-dir <dir>', 'cache root; env CL_CACHE_DIR', pathOption('--cache-dir', 'folder'))
    .action(
      action(async (ids: string[], opts: { cacheDir?: string; all?: boolean; kind?: CacheKind }) => {
        const root = opts.cacheDir ?? cacheRoot();
        if (!opts.all && ids.length === 0) throw new UserError('nothing to remove', 'name entry ids (see `cl cache ls`) or pass --all');
        if (opts.all && ids.length > 0) throw new UserError('give entry ids or --all, not both', 'cl cache rm <id...>, or cl cache rm --all [--kind features]');
        const listed = opts.all ? await listCache(root, opts.kind ? [opts.kind] : CACHE_KINDS) : [];
        const kept = listed.filter((e) => e.shared);
        const targets = opts.all ? listed.filter((e) => !e.shared).map((e) => e.id) : ids;
        const removed = await removeCacheEntries(root, targets);
        const bytes = removed.reduce((s, e) => s + e.bytes, 0);
        process.stdout.write(`removed ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'} (${fmtBytes(bytes)})\n`);
        if (kept.length > 0) {
          process.stdout.write(`kept ${kept.length} Hugging Face hub entr${kept.length === 1 ? 'y' : 'ies'} (shared with huggingface_hub; remove by id: ${printable(kept.map((e) => e.id).join(' '))})\n`);
        }
      }),
    );
}
