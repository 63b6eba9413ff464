/**
 * Dataset specs: `imagefolder:<dir>` and `features:<path>` name a user's own data wherever a dataset
 * id or a scenario name stands (docs/datasets.md). The canonical form holds the absolute path, so a
 * record names exactly what was read.
 */
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';

/** The backbone of a `features:` dataset: the features were extracted elsewhere. */
export const EXTERNAL_BACKBONE = 'external';

export type SpecKind = 'imagefolder' | 'features';
export const SPEC_KINDS: readonly SpecKind[] = ['imagefolder', 'features'];

export interface DatasetSpec {
  kind: SpecKind;
  /** Absolute path. */
  path: string;
  /** `<kind>:<absolute path>`. */
  canonical: string;
}

/** True when `s` starts with a spec kind and a colon (`imagefolder:...`, `features:...`). */
export function isDatasetSpec(s: string): boolean {
  return SPEC_KINDS.some((k) => s.startsWith(`${k}:`));
}

/**
 * Parses a spec; a relative path is resolved against `baseDir` (the working directory on the command
 * line, the scenario file's folder in a scenario file); `~/` is the home folder. Null when `s` is no spec.
 */
export function parseDatasetSpec(s: string, baseDir: string = process.cwd()): DatasetSpec | null {
  const kind = SPEC_KINDS.find((k) => s.startsWith(`${k}:`));
  if (!kind) return null;
  let p = s.slice(kind.length + 1).trim();
  if (!p) throw new UserError(`dataset spec "${s}" names no path`, `write ${kind}:<path>, e.g. ${kind}:./my-data`);
  if (p === '~' || p.startsWith('~/')) p = path.join(os.homedir(), p.slice(1));
  const abs = path.resolve(baseDir, p);
  return { kind, path: abs, canonical: `${kind}:${abs}` };
}
