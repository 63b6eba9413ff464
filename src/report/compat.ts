/**
 * Terminal rendering of compatibility records (kind 'compat'): `cl show` (renderCompat) and one
 * `cl ls` line (renderCompatListLine). Matrices follow docs/protocols.md "Compatibility (embedding upgrades)": row = query model,
 * column = gallery model; each off-diagonal cell is marked ✓ when C[i][j] > C[j][j] (strict,
 * against the gallery model's own self-test) and ✗ otherwise.
 */
import chalk from 'chalk';
import { COMPAT_METRICS, METRIC_LABELS, type CompatMetric, type CompatRecord } from '../compat/record.js';
import { entryOf, isCompatEntry, type CompatEntry } from '../store/entries.js';
import { formatDuration, formatNumber } from './stats.js';
import { renderTable } from './table.js';
import { printable, printableDeep } from './printable.js';

const kv = (k: string, v: string): string => `  ${chalk.dim(k.padEnd(9))} ${v}`;

function statusText(status: string): string {
  return status === 'finished' ? chalk.green(status) : status === 'running' ? chalk.yellow(status) : chalk.red(status);
}

function listClasses(classes: number[], max = 8): string {
  return classes.length <= max ? classes.join(',') : `${classes.slice(0, max).join(',')},… (${classes.length})`;
}

function header(r: CompatRecord): string {
  const o = r.methodOptions;
  const methodLine =
    r.method === 'oca'
      ? `oca (d ${o.d}, k ${o.k}, T⊥ ${o.ortho}${o.orthoBias && o.ortho !== 'none' ? ' + bias' : ''}, loss ${o.lossCe}·CE + ${o.lossInfl}·L_infl + ${o.lossCos}·L_cos, growth ${o.growth})`
      : r.method === 'bct'
        ? `bct (d ${o.d}, α ${o.alpha})`
        : `independent (d ${o.d})`;
  const lines = [
    `${chalk.bold(`Compat ${r.id}`)}  ${statusText(r.status)}`,
    kv('scenario', `${r.scenario.name} (dataset ${r.scenario.dataset}, ${r.steps} versions adding ${[...new Set(r.scenario.blocks.map((b) => b.length))].join('/')} classes each, order ${r.scenario.order.id}, data ${o.data})`),
    kv('method', methodLine),
    kv('training', `${o.epochs} epochs, batch ${o.batchSize}, Adam lr ${o.lr} warm-up ${o.warmup} + cosine, L2 ${o.weightDecay}, ε ${o.labelSmoothing}, head D → ${o.hidden} → d_t${o.layerNorm ? ', input LayerNorm' : ''}`),
    kv('backbone', `${r.backbone.id} (dim ${r.backbone.dim}, preprocessing ${r.backbone.preprocessing}${r.backbone.preprocessingEngine ? ` in ${r.backbone.preprocessingEngine}` : ''})`),
    kv('backend', r.backend),
    kv('seed', `${r.trainSeed} (trainSeed)`),
    kv('version', `cl ${r.clVersion}`),
    kv('created', `${r.createdAt} (updated ${r.updatedAt}, pid ${r.pid} on ${r.host})`),
    kv('command', r.command.join(' ')),
    kv('retrieval', `${r.retrieval.queries} queries × ${r.retrieval.gallery} gallery, query excluded, prefix truncation${r.retrieval.skippedQueries ? `, ${r.retrieval.skippedQueries} queries without a relevant item skipped` : ''}`),
  ];
  if (r.error) lines.push(kv('error', chalk.red(r.error)));
  return lines.join('\n');
}

function versionsTable(r: CompatRecord): string {
  const rows = r.versions.map((v) => [
    `φ${v.version}`,
    String(v.dim),
    `${v.trainClasses.length} (${listClasses(v.trainClasses, 5)})`,
    String(v.trainSamples),
    v.prototypeDim === null ? '–' : String(v.prototypeDim),
    formatNumber(v.epochLosses[v.epochLosses.length - 1], 4),
    v.orthoError === null ? '–' : v.orthoError.toExponential(1),
    formatDuration(v.trainMs),
    v.backfillTrainMs > 0 ? formatDuration(v.backfillTrainMs) : '–',
    formatDuration(v.evalMs),
  ]);
  const head = ['version', 'dim', 'train classes', 'samples', 'P dim', 'last loss', '|QᵀQ−I|', 'train', 'backfill', 'eval'];
  return `${chalk.bold('Versions')}\n${renderTable(head, rows, { align: ['left', 'right', 'left'] })}`;
}

function cell(value: number | null | undefined, ok: boolean | null | undefined, diagonal: boolean): string {
  if (typeof value !== 'number') return '';
  const v = value.toFixed(2);
  if (diagonal) return chalk.bold(v);
  return ok ? `${v} ${chalk.green('✓')}` : `${v} ${chalk.red('✗')}`;
}

function matrixBlock(r: CompatRecord, m: CompatMetric): string {
  const T = r.steps;
  const C = r.matrices[m];
  const crit = r.criterion[m];
  const done = r.versions.length;
  const head = ['query \\ gallery', ...Array.from({ length: T }, (_, j) => `φ${j + 1}`)];
  if (r.backfill) head.push('backfill');
  const rows: string[][] = [];
  for (let i = 0; i < done; i++) {
    const row = [`φ${i + 1} (d ${r.versions[i]?.dim ?? '?'})`];
    for (let j = 0; j < T; j++) row.push(j <= i ? cell(C[i]?.[j], crit[i]?.[j], i === j) : chalk.dim('·'));
    if (r.backfill) row.push(formatNumber(r.backfill.row[m][i]));
    rows.push(row);
  }
  const ac = r.ac[m];
  const am = r.am[m];
  const perStep = r.acPerStep[m];
  const summary = [
    `AC ${ac === null ? '–' : formatNumber(ac, 3)}`,
    `AM ${am === null ? '–' : formatNumber(am)}`,
    perStep.length > 0 ? `AC per step ${perStep.map((v) => formatNumber(v, 3)).join(', ')}` : '',
  ].filter(Boolean);
  return `${chalk.bold(`${METRIC_LABELS[m]} (%)`)}\n${renderTable(head, rows, { align: ['left'] })}\n  ${summary.join('   ')}`;
}

function upgradeSummary(r: CompatRecord): string {
  const n = r.versions.length;
  if (n < 2) return '';
  const last = n - 1;
  const rows = COMPAT_METRICS.map((m) => {
    const C = r.matrices[m];
    return [
      METRIC_LABELS[m],
      formatNumber(C[0][0]),
      formatNumber(C[last][0]),
      formatNumber(C[last][last]),
      r.backfill ? formatNumber(r.backfill.row[m][last]) : '–',
    ];
  });
  const head = ['metric', 'old/old', `new/old (φ${n}→φ1)`, 'new/new', 'backfill new*/new*'];
  return `${chalk.bold('Upgrade φ1 → φ' + n)}\n${renderTable(head, rows)}`;
}

/** Everything `cl show <id>` prints about one compatibility run. */
export function renderCompat(raw: CompatRecord): string {
  const record = printableDeep(raw);
  const parts = [header(record)];
  if (record.versions.length > 0) {
    parts.push(versionsTable(record));
    for (const m of COMPAT_METRICS) parts.push(matrixBlock(record, m));
    const up = upgradeSummary(record);
    if (up) parts.push(up);
    parts.push(
      chalk.dim(
        'C[i][j] = metric of φi queries against the φj gallery; ✓ = C[i][j] > C[j][j] (strict, docs/protocols.md "Compatibility (embedding upgrades)"); ' +
          'AC = share of compatible pairs, AM = mean of the lower triangle; backfill = gallery re-embedded with the unconstrained new model.',
      ),
    );
  } else parts.push('  (no version finished yet)');
  parts.push(kv('wall time', formatDuration(record.timings.totalMs)));
  return `${parts.join('\n\n')}\n`;
}

/** One `cl ls` row of a compatibility job from its index entry (no record is read): id, created, status, scenario, method, backbone, top-1 AC, mAP AM, versions. */
export function renderCompatListLine(entry: CompatEntry, rawStatus: string = entry.status): string[] {
  const status = printable(rawStatus);
  const colour = status === 'finished' ? chalk.green : status === 'running' ? chalk.yellow : chalk.red;
  return [
    printable(entry.id.slice(0, 8)),
    printable(entry.createdAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
    colour(status),
    `${printable(entry.scenario.name)} ${chalk.dim(`compat ${entry.steps} steps`)}`,
    printable(`${entry.method}${entry.method === 'oca' && entry.ortho !== null && entry.ortho !== 'expm' ? ` (T⊥ ${entry.ortho})` : ''}`),
    printable(entry.backbone.id),
    `AC ${entry.acTop1 === null ? '–' : formatNumber(entry.acTop1, 2)}`,
    `AM ${entry.amMap === null ? '–' : formatNumber(entry.amMap)}`,
    `${entry.versionsDone}/${entry.steps}`,
  ];
}

function compatEntry(record: CompatRecord): CompatEntry {
  const e = entryOf(record, 0);
  if (!isCompatEntry(e)) throw new Error(`record ${record.id} is not a compat record`);
  return e;
}

/** A plain one-line summary of a compat record (for logs and lists outside a table). */
export function compatListLine(record: CompatRecord, status: string = record.status): string {
  return renderCompatListLine(compatEntry(record), status).join('  ');
}
