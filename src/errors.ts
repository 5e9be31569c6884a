/**
 * Errors with stable names. Tests and the CLI's exit codes key on `name`,
 * never on message text; messages say what the user can do about it.
 */
export class Imgp2pError extends Error {
  /** Process exit code the CLI uses for this failure. */
  readonly exitCode: number = 1
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

export class InvalidCidError extends Imgp2pError { override readonly exitCode = 2 }
export class InvalidManifestError extends Imgp2pError { override readonly exitCode = 3 }
export class ChunkHashMismatchError extends Imgp2pError { override readonly exitCode = 3 }
export class NoProvidersError extends Imgp2pError { override readonly exitCode = 4 }
export class DaemonNotRunningError extends Imgp2pError { override readonly exitCode = 5 }
export class DiskFullError extends Imgp2pError { override readonly exitCode = 6 }
export class OutputNotWritableError extends Imgp2pError { override readonly exitCode = 7 }
export class NotFoundError extends Imgp2pError { override readonly exitCode = 8 }
export class ProtocolError extends Imgp2pError { override readonly exitCode = 9 }
export class UsageError extends Imgp2pError { override readonly exitCode = 64 }

const byName: Record<string, new (message: string) => Imgp2pError> = {
  InvalidCidError, InvalidManifestError, ChunkHashMismatchError, NoProvidersError, DaemonNotRunningError,
  DiskFullError, OutputNotWritableError, NotFoundError, ProtocolError, UsageError
}

/** Rebuild a typed error that crossed the control socket as { name, message }. */
export function reviveError (name: string, message: string): Imgp2pError {
  const Ctor = byName[name] ?? Imgp2pError
  return new Ctor(message)
}

/** Map a Node file-system error to the typed error a user can act on. */
export function fsError (err: unknown, what: string): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(`no space left on device while ${what}`, { cause: err })
  return err instanceof Error ? err : new Error(String(err))
}
