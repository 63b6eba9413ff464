/**
 * `cl worker --queue URL`: take runs from the queue that `cl sweep --queue URL` fills and run each
 * exactly as `cl run` would, with this machine's data, cache and backbones (see src/queue/).
 */
import { Command } from 'commander';
import path from 'node:path';
import { parseBackboneSpec } from '../backbones/backbone.js';
import { UserError } from '../errors.js';
import { queueTarget } from '../queue/connection.js';
import { NAME_PATTERN } from '../queue/job.js';
import { DEFAULT_QUEUE_NAME, parseDuration, QUEUE_NAME_PATTERN } from '../queue/queue.js';
import { startWorker } from '../queue/worker.js';
import { action } from './common.js';

function parsePositive(flag: string, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UserError(`${flag} expects an integer from 1 to ${max}, got "${v}"`);
    return Number(v);
  };
}

/** Repeated `--backbone name=spec` → { name: spec }. */
function parseBackbones(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const name = v.slice(0, eq);
    const spec = v.slice(eq + 1);
    if (eq < 1 || !new RegExp(NAME_PATTERN).test(name) || !spec) {
      throw new UserError(`--backbone "${v}" is not NAME=SPEC`, 'e.g. --backbone mnv2=onnx:/models/mobilenetv2.onnx#features; sweeps then pass --backbone mnv2');
    }
    if (Object.hasOwn(out, name)) throw new UserError(`--backbone ${name} is given twice`, 'give each name once');
    parseBackboneSpec(spec);
    // Local model files are resolved now, so the worker's own working directory decides.
    const colon = spec.indexOf(':');
    const kind = colon < 0 ? spec : spec.slice(0, colon);
    const rest = colon < 0 ? '' : spec.slice(colon + 1);
    const local = (kind === 'onnx' || kind === 'tfjs') && !/^[a-z]+:\/\//i.test(rest);
    out[name] = local ? `${kind}:${path.resolve(rest)}` : spec;
  }
  return out;
}

interface WorkerOpts {
  queue?: string;
  queueName: string;
  concurrency: number;
  dataDir?: string;
  cacheDir?: string;
  offline?: boolean;
  backbone: string[];
  lockDuration: string;
  name?: string;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('take runs from a Redis queue filled by `cl sweep --queue` and run each as `cl run` would, with this machine\'s data and cache')
    .option('--queue <url>', 'redis://[:password@]host[:port][/db], rediss://… (TLS; private CA: NODE_EXTRA_CA_CERTS) or unix:/path/to/redis.sock; env CL_QUEUE (password: CL_QUEUE_PASSWORD)')
    .option('--queue-name <name>', 'the queue (the same as the sweeps use)', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'runs at once, each in its own process', parsePositive('--concurrency', 256), 1)
    .option('--data-dir <dir>', "this machine's local copies of datasets (archive or folder); env CL_DATA_DIR")
    .option('--cache-dir <dir>', "this machine's cache root (datasets, models, features); env CL_CACHE_DIR. Workers may share one")
    .option('--offline', 'never download; local files and caches only')
    .option(
      '--backbone <name=spec>',
      'a backbone name runs may ask for, e.g. mnv2=onnx:/models/mnv2.onnx#features (repeatable; named backbones and pixels need none)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--lock-duration <duration>', "how long a job's lock lasts unrenewed: a dead worker's runs restart elsewhere after about this long", '30s')
    .option('--name <name>', 'name shown to submitters and stored with each record (default host:pid)')
    .action(
      action(async (opts: WorkerOpts) => {
        if (!QUEUE_NAME_PATTERN.test(opts.queueName)) throw new UserError(`--queue-name "${opts.queueName}" is not a queue name`, 'letters, digits, ".", "_", "-"');
        const target = queueTarget(opts.queue);
        const lockMs = parseDuration('--lock-duration', opts.lockDuration) * 1000;
        const dataDir = opts.dataDir ?? process.env.CL_DATA_DIR;
        const worker = await startWorker({
          target,
          queueName: opts.queueName,
          concurrency: opts.concurrency,
          lockMs,
          name: opts.name,
          dataDir: dataDir ? path.resolve(dataDir) : undefined,
          cacheRoot: opts.cacheDir ? path.resolve(opts.cacheDir) : undefined,
          offline: Boolean(opts.offline),
          backbones: parseBackbones(opts.backbone),
          log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
        });
        // First Ctrl-C / SIGTERM: finish the running jobs, take no new ones. Second: leave them (they go
        // back to the queue once their locks expire) and exit.
        let stopping = false;
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals) => {
            if (stopping) {
              process.stderr.write(`${signal} again: leaving the running jobs to other workers\n`);
              void worker.close(true).finally(() => process.exit(130));
              return;
            }
            stopping = true;
            process.stderr.write(`${signal}: finishing the running jobs, taking no new ones (${signal} again to leave them to other workers)\n`);
            void worker.close(false).finally(resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
      }),
    );
}
