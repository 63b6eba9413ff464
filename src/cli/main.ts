#!/usr/bin/env node
/** The `cl` command: one small module per subcommand, registered here. */
import { Command } from 'commander';
import { clVersion } from '../version.js';
import { reportError } from './common.js';
import * as run from './run.js';
import * as ls from './ls.js';
import * as show from './show.js';
import * as cache from './cache.js';
import * as catalog from './catalog.js';
import * as backbones from './backbones.js';
import * as compat from './compat.js';
import * as compare from './compare.js';
import * as sweep from './sweep.js';

const program = new Command();
program
  .name('cl')
  .description('continual-learning experiment runner: class-incremental streams over frozen pretrained features')
  .version(clVersion())
  .showSuggestionAfterError(true);

for (const m of [run, compat, ls, show, compare, sweep, cache, backbones, catalog]) m.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
