/** Test helper (not a test file): the UserError that `f` throws; any other outcome fails the test. */
import { UserError } from '../src/errors.js';

export function userError(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected a UserError');
}
