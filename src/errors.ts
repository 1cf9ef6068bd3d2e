/**
 * The one error type terrarium raises on purpose. Codes are stable identifiers (scripts may match on
 * them); the table is append-only and exit codes are never renumbered, because CI scripts branch on them.
 */
export const EXIT = {
  ok: 0,
  notStored: 1,
  usage: 2,
  requirements: 3,
  python: 4,
  storage: 5,
  archive: 6,
  build: 7,
  target: 8,
  relocate: 9,
  notFound: 10,
  locked: 11,
  internal: 70,
  /** 128 + the signal number, as shells report a process killed by that signal. */
  interrupted: 130,
  /** 128 + SIGPIPE: the reader of the output went away (`terrarium ls | head`), as a C program would stop. */
  brokenPipe: 141,
} as const;

export const CODES = {
  USAGE: EXIT.usage,
  UNKNOWN_DIGEST: EXIT.usage,
  BAD_KEY_FORMAT: EXIT.usage,
  NO_TARGET: EXIT.usage,
  SIGN_KEY_BAD: EXIT.usage,
  REQUIREMENTS_MISSING: EXIT.requirements,
  REQUIREMENTS_UNREADABLE: EXIT.requirements,
  REQUIREMENTS_INCLUDE_MISSING: EXIT.requirements,
  REQUIREMENTS_INCLUDE_CYCLE: EXIT.requirements,
  REQUIREMENTS_REMOTE_INCLUDE: EXIT.requirements,
  REQUIREMENTS_BAD_LOCK: EXIT.requirements,
  REQUIREMENTS_LOCK_UNSUPPORTED: EXIT.requirements,
  REQUIREMENTS_LOCK_MISMATCH: EXIT.requirements,
  PYTHON_NOT_FOUND: EXIT.python,
  PYTHON_FAILED: EXIT.python,
  PYTHON_NO_VENV: EXIT.python,
  PYTHON_INCOMPATIBLE: EXIT.python,
  PYTHON_TOO_OLD: EXIT.python,
  PYTHON_NOT_PORTABLE: EXIT.python,
  PYTHON_LIBRARY_MISSING: EXIT.python,
  STORAGE_IO: EXIT.storage,
  STORAGE_AUTH: EXIT.storage,
  STORAGE_NO_BUCKET: EXIT.storage,
  STORAGE_UNREACHABLE: EXIT.storage,
  ARCHIVE_CORRUPT: EXIT.archive,
  ARCHIVE_HOSTILE: EXIT.archive,
  ARCHIVE_UNSUPPORTED: EXIT.archive,
  ARCHIVE_UNTRUSTED: EXIT.archive,
  BUILD_VENV_FAILED: EXIT.build,
  BUILD_PIP_FAILED: EXIT.build,
  BUILD_PACK_FAILED: EXIT.build,
  BUILD_FAILED_ELSEWHERE: EXIT.build,
  TARGET_IS_FILE: EXIT.target,
  TARGET_NOT_ENV: EXIT.target,
  TARGET_UNWRITABLE: EXIT.target,
  TARGET_BAD_PATH: EXIT.target,
  NO_BACKUP: EXIT.target,
  TARGET_NO_SPACE: EXIT.target,
  TARGET_UNRECOVERABLE: EXIT.target,
  TARGET_LOCKED: EXIT.locked,
  RELOCATE_FAILED: EXIT.relocate,
  RELOCATE_OUTSIDE_PATHS: EXIT.relocate,
  SMOKE_CHECK_FAILED: EXIT.relocate,
  ARCHIVE_REQUIRED: EXIT.notFound,
  INTERRUPTED: EXIT.interrupted,
} as const;

export type ErrorCode = keyof typeof CODES;

export class TerrariumError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Overrides the code's exit status; used to pass pip's own exit status through. */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TerrariumError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? CODES[code];
  }
}

export function isErrno(error: unknown, ...codes: string[]): error is NodeJS.ErrnoException {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

/** The reason a system call failed, in words, without Node's stack noise. */
export function describeCause(error: unknown): string {
  if (error instanceof TerrariumError) return error.message;
  // fetch says only "fetch failed"; what failed (refused, DNS, reset, TLS) is its cause.
  if (error instanceof TypeError && error.message === 'fetch failed' && error.cause instanceof Error) return describeCause(error.cause);
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const text = error.message.replace(/^[A-Z]+: /, '');
    return code && !text.includes(code) ? `${code}: ${text}` : text;
  }
  return String(error);
}
