/**
 * What `cl run` and `cl compat` share: the data/backbone/backend options, the rendering of
 * dataset and feature-extraction events, and running an experiment stream with Ctrl-C marking
 * the stored record as interrupted.
 */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { lastValueFrom, tap, type Observable } from 'rxjs';
import { ONNX_DEVICES, type BackboneOptions, type OnnxDevice } from '../backbones/backbone.js';
import { formatDuration } from '../backbones/wrap.js';
import { progressReporter } from '../data/progress.js';
import { BACKEND_CHOICES } from '../backends.js';
import { UserError } from '../errors.js';
import type { FeatureEvent } from '../features.js';
import { BACKBONE_OPTIONS } from '../experiment-options.js';
import { stopWork } from '../interrupt.js';
import { printableDeep } from '../report/printable.js';
import type { ResizeRule } from '../types.js';
import { addStoreOption, pathOption } from './common.js';

export function parseIntStrict(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new UserError(`${flag} expects an integer, got "${v}"`);
    return Number(v);
  };
}

/** Options of every command that turns a dataset into features and trains on them. */
export function addExperimentOptions(cmd: Command): Command {
  cmd
    .option(
      '--backbone <spec>',
      "frozen feature extractor: pixels | onnx:<path-or-URL>[#output] | hf:<repo>[@rev][#output] | tfjs:<path-or-URL>[#layer] | NAME (see `cl backbones`); default: the scenario's",
    )
    .addOption(new Option('--input-norm <how>', BACKBONE_OPTIONS.inputNorm.help).choices(BACKBONE_OPTIONS.inputNorm.choices))
    .option('--input-size <px>', 'model input size when the model does not declare it', parseIntStrict('--input-size'))
    .addOption(new Option('--input-layout <layout>', BACKBONE_OPTIONS.inputLayout.help).choices(BACKBONE_OPTIONS.inputLayout.choices))
    .addOption(new Option('--feature-pool <how>', BACKBONE_OPTIONS.featurePool.help).choices(BACKBONE_OPTIONS.featurePool.choices))
    .addOption(
      new Option('--preprocess <where>', BACKBONE_OPTIONS.preprocess.help)
        .choices(BACKBONE_OPTIONS.preprocess.choices)
        .default('auto'),
    )
    .option('--extract-batch-size <n>', 'batch size of feature extraction', parseIntStrict('--extract-batch-size'))
    .addOption(
      new Option('--device <where>', 'where ONNX backbones run: auto = CUDA when the CUDA build of onnxruntime is installed and a GPU answers, else cpu (docs/gpu.md)')
        .choices(ONNX_DEVICES)
        .default('auto'),
    );
  addDataOptions(cmd, 'local copy of the dataset (archive or folder); env CL_DATA_DIR');
  cmd
    .addOption(
      new Option('--resize <rule>', 'image folders: crop = shorter side to 256/224 of the input size + centre crop (timm/PILOT eval), squash = straight to the input size, none = images of one size, resized by the backbone')
        .choices(['crop', 'squash', 'none'])
        .default('crop'),
    )
    .option('--skip-bad-images', 'image folders: leave unreadable images out (listed in the record) instead of stopping');
  cmd.addOption(new Option('--backend <name>', 'tfjs backend (env CL_BACKEND): auto = tensorflow if installed, else wasm; wasm-mlas = faster training on every core, its own numbers (docs/performance.md)').choices(BACKEND_CHOICES).default('auto'));
  return addOutputOptions(cmd);
}

/** Where the data and caches are: --data-dir (with its help), --cache-dir, --offline. */
export function addDataOptions(cmd: Command, dataDirHelp: string): Command {
  return cmd
    .option('--data-dir <dir>', dataDirHelp, pathOption('--data-dir', 'any'))
    .option('--cache-dir <dir>', 'cache root for datasets, models and features; env CL_CACHE_DIR', pathOption('--cache-dir', 'folder'))
    .option('--offline', 'never download; use local files and caches only');
}

/** How the finished record is reported and where it is stored: --json, -q, --store. */
export function addOutputOptions(cmd: Command): Command {
  cmd.option('--json', 'print the finished record as JSON on stdout').option('-q, --quiet', 'no progress output');
  return addStoreOption(cmd);
}

export interface ExperimentInputs {
  backbone?: string;
  backboneOptions: BackboneOptions;
  dataDir?: string;
  cacheRoot?: string;
  offline: boolean;
  backend: string;
  resize?: ResizeRule;
  skipBadImages?: boolean;
  /** -q: no progress at all, downloads and archive extraction included. */
  quiet: boolean;
}

/** The parsed values of addExperimentOptions. */
export function experimentInputs(opts: Record<string, unknown>): ExperimentInputs {
  const backboneOptions: BackboneOptions = {};
  if (opts.inputNorm) backboneOptions.normalize = opts.inputNorm as BackboneOptions['normalize'];
  if (opts.inputSize) backboneOptions.imageSize = opts.inputSize as number;
  if (opts.inputLayout) backboneOptions.layout = opts.inputLayout as BackboneOptions['layout'];
  if (opts.featurePool) backboneOptions.pool = opts.featurePool as BackboneOptions['pool'];
  if (opts.preprocess === 'js') backboneOptions.preprocess = 'js';
  if (opts.extractBatchSize) backboneOptions.batchSize = opts.extractBatchSize as number;
  if (opts.device && opts.device !== 'auto') backboneOptions.device = opts.device as OnnxDevice;
  return {
    backbone: opts.backbone as string | undefined,
    backboneOptions,
    dataDir: (opts.dataDir as string | undefined) ?? process.env.CL_DATA_DIR,
    cacheRoot: opts.cacheDir as string | undefined,
    offline: Boolean(opts.offline),
    backend: opts.backend as string,
    ...(opts.resize ? { resize: opts.resize as ResizeRule } : {}),
    ...(opts.skipBadImages ? { skipBadImages: true } : {}),
    quiet: Boolean(opts.quiet),
  };
}

/** Terminal lines on stderr (stdout stays clean for --json); progress bars for extraction. */
export interface Renderer<E> {
  (e: E): void;
}

/**
 * Render the events every experiment shares (stages, extraction progress); `own` renders the rest.
 * `line` writes one line unless quiet.
 */
export function experimentRenderer<E extends { type: string }>(
  quiet: boolean,
  own: (e: E, line: (s: string) => void) => void,
): Renderer<E | FeatureEvent> {
  const bars = new Map<string, ReturnType<typeof progressReporter>>();
  const line = (s: string) => {
    if (!quiet) process.stderr.write(`${s}\n`);
  };
  return (raw) => {
    // Events carry outside text (backbone specs, model output names, paths, records): printable.
    const e = printableDeep(raw);
    const f = e as FeatureEvent;
    switch (f.type) {
      case 'stage':
        line(chalk.dim(`• ${f.message}`));
        return;
      case 'progress': {
        if (quiet) return;
        let bar = bars.get(f.label);
        if (!bar) {
          bar = progressReporter(f.label, f.total, { unit: 'img' });
          bars.set(f.label, bar);
        }
        const eta = f.eta !== undefined ? `, ETA ${formatDuration(f.eta)}` : '';
        bar.update(f.done, f.rate !== undefined ? `${f.rate.toFixed(0)} img/s${eta}` : undefined);
        return;
      }
      case 'progress-end':
        for (const [label, bar] of bars) {
          if (f.label === '*' || f.label === label) {
            bar.stop();
            bars.delete(label);
          }
        }
        return;
      default:
        own(e as E, line);
    }
  };
}

/**
 * Training progress like extraction's: one bar per training phase of a task (epochs done, epochs/s,
 * ETA, the last epoch's loss); on a non-TTY stderr a plain line about every 10 %. `end` closes the
 * open bar before other lines are written.
 */
export function trainingProgress(quiet: boolean): { epoch(label: string, epoch: number, epochs: number, loss: number): void; end(): void } {
  let current: { label: string; bar: ReturnType<typeof progressReporter>; started: number } | null = null;
  const end = (): void => {
    current?.bar.stop();
    current = null;
  };
  return {
    epoch(label, epoch, epochs, loss) {
      if (quiet) return;
      if (!current || current.label !== label || epoch === 1) {
        end();
        current = { label, bar: progressReporter(label, epochs, { unit: 'epochs' }), started: performance.now() };
      }
      const secs = (performance.now() - current.started) / 1000;
      const rate = secs > 0 ? epoch / secs : 0;
      const eta = rate > 0 ? (epochs - epoch) / rate : undefined;
      current.bar.update(epoch, `${rate.toFixed(rate < 10 ? 2 : 1)} epochs/s${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ''}, loss ${loss.toFixed(4)}`);
      if (epoch === epochs) end();
    },
    end,
  };
}

/** How long a signal handler waits for the store to mark the run interrupted before it exits anyway. */
const MARK_DEADLINE_MS = 1500;

type ExperimentEvent<R> = { type: 'started'; record: { id: string } } | { type: 'finished'; record: R } | { type: string };

/**
 * Subscribe to an experiment, render its events, and on SIGINT/SIGTERM mark the stored record
 * interrupted before exiting (130/143). Resolves with the finished record.
 */
export async function runExperimentStream<R, E extends { type: string }>(
  events: Observable<E>,
  render: Renderer<E | FeatureEvent>,
  markInterrupted: (id: string, why: string) => Promise<void>,
): Promise<R> {
  let id: string | null = null;
  let finished: R | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    // Long loops park at their next yieldPoint, so the marking below gets the CPU.
    stopWork(`interrupted by ${signal}`);
    const exit = () => process.exit(signal === 'SIGINT' ? 130 : 143);
    if (!id) return exit();
    const runId = id;
    // Marking normally takes milliseconds; should the store be slow (a busy lock), exit anyway:
    // the record then shows as interrupted through its dead pid.
    const deadline = setTimeout(() => {
      process.stderr.write(`\nrun ${runId}: could not mark it interrupted within ${MARK_DEADLINE_MS / 1000} s; it shows as interrupted once this process is gone (cl ls)\n`);
      exit();
    }, MARK_DEADLINE_MS);
    markInterrupted(runId, `interrupted by ${signal}`).then(exit, exit).finally(() => clearTimeout(deadline));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await lastValueFrom(
      events.pipe(
        tap((e) => {
          const ev = e as ExperimentEvent<R>;
          if ((ev.type === 'started' || ev.type === 'resuming') && 'record' in ev) id = (ev.record as { id: string }).id;
          if (ev.type === 'finished' && 'record' in ev) finished = ev.record as R;
          render(e);
        }),
      ),
    );
  } finally {
    render({ type: 'progress-end', label: '*' });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (finished === null) throw new Error('the experiment ended without a result');
  return finished;
}
