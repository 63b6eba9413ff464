/** Test helper: the built `cl` as a child process (npm test builds first). */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');

export interface ClResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time of the process. */
  ms: number;
}

/** Throws unless the CLI was built. */
export function requireBuild(): void {
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
}

/** Run `cl args` (NO_COLOR, CL_DEBUG unset, extra env on top) and collect its output. */
export function cl(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): Promise<ClResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      cwd: opts.cwd ?? root,
      env: { ...process.env, NO_COLOR: '1', CL_DEBUG: '', ...opts.env },
      timeout: opts.timeout ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}
