#!/usr/bin/env node
/** The `cl` command (commands in ./program.ts). */
import { reportError } from './common.js';
import { buildProgram } from './program.js';

// `cl ls | head`: a reader that stops early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  const program = await buildProgram(process.argv[2]);
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
