/**
 * A problem the user can fix (bad input, missing file, impossible option).
 * The CLI prints `message` and `hint` on one or two lines, exits non-zero, and never shows a stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
