/**
 * The job processor of `cl worker`, run by BullMQ in a child process of the worker (a "sandboxed
 * processor"): each job gets a whole CPU-bound process, the worker's own event loop stays free to
 * renew job locks, and a crash takes down one child, not the worker.
 *
 * The child never talks to Redis itself: `job.log`, `job.updateProgress` and the return value
 * travel to the worker over the IPC channel. When that channel closes (the worker died), the child
 * exits at once instead of computing a result nobody can deliver.
 */
import type { SandboxedJob } from 'bullmq';
import { isUserError } from '../errors.js';
import { checkMethod, runQueuedJob, SETUP_ENV, type WorkerSetup } from './experiment.js';
import { checkPayload, InvalidPayloadError, type JobLogEntry, type JobProgress, type JobResult } from './job.js';

process.on('disconnect', () => process.exit(70));

function setupFromEnv(): WorkerSetup {
  const raw = process.env[SETUP_ENV];
  if (!raw) throw new Error(`${SETUP_ENV} is not set: the processor runs only under \`cl worker\``);
  return JSON.parse(raw) as WorkerSetup;
}

/** The error a job fails with: the `cl: error:` line (+ hint) a local `cl run` would print. */
export function jobError(e: unknown): Error {
  let message: string;
  if (e instanceof InvalidPayloadError) message = `cl: error: ${e.message}`;
  else if (isUserError(e)) message = `cl: error: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`;
  else if (e instanceof Error && e.name === 'TrainingDivergedError') message = `cl: error: ${e.message}`;
  else message = `cl: internal error: ${e instanceof Error ? e.message : String(e)}`;
  const err = new Error(message);
  // A payload that is wrong is wrong on every worker: BullMQ does not retry an UnrecoverableError.
  if (e instanceof InvalidPayloadError) Object.defineProperty(err, 'name', { value: 'UnrecoverableError', enumerable: true });
  return err;
}

export default async function processRunJob(job: SandboxedJob): Promise<JobResult> {
  const setup = setupFromEnv();
  const attempt = job.attemptsStarted;
  try {
    const payload = checkPayload(job.data, job.id);
    checkMethod(payload.config);
    const log = (entry: JobLogEntry) => job.log(JSON.stringify(entry));
    const record = await runQueuedJob(payload.config, setup, `${job.id}-a${attempt}`, {
      // The worker shows its children's stderr: where the data and features came from.
      stage: (message) => process.stderr.write(`         ${payload.label} [${job.id}] ${message}\n`),
      started: async (r) => {
        await log({ cl: 'started', attempt, worker: setup.name, record: r });
        const p: JobProgress = { attempt, worker: setup.name, done: 0, tasks: r.scenario.taskClasses.length };
        await job.updateProgress(p as unknown as Record<string, unknown>);
      },
      increment: async (result, tasks) => {
        await log({ cl: 'increment', attempt, result, tasks });
        const p: JobProgress = { attempt, worker: setup.name, done: result.task + 1, tasks };
        await job.updateProgress(p as unknown as Record<string, unknown>);
      },
    });
    return { cl: 'finished', attempt, worker: setup.name, record };
  } catch (e) {
    throw jobError(e);
  }
}
