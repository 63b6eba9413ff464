/**
 * How to start `cl` as a child process, found from this module's own file: from dist/ it is
 * `node dist/src/cli/main.js`; from src/ under tsx it is `node --import <tsx> src/cli/main.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CliCommand {
  file: string;
  /** Arguments before the cl subcommand. */
  args: string[];
}

export function cliCommand(moduleUrl: string = import.meta.url): CliCommand {
  const here = fileURLToPath(moduleUrl);
  const fromSource = here.endsWith('.ts');
  const entry = path.resolve(path.dirname(here), '..', 'cli', fromSource ? 'main.ts' : 'main.js');
  if (!fs.existsSync(entry)) throw new Error(`cl CLI entry not found at ${entry}`);
  // Resolve tsx to a file URL so that the child finds it whatever its working directory.
  return { file: process.execPath, args: fromSource ? ['--import', pathToFileURL(createRequire(moduleUrl).resolve('tsx')).href, entry] : [entry] };
}
