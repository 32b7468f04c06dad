import { ErrorCode, roomNameProblem } from '../protocol.js';

/**
 * Client-side error codes on top of the wire codes in `ErrorCode`. Any code the
 * server sends is passed through unchanged.
 */
export const ClientErrorCode = {
  /** A connection attempt failed (refused upgrade, network down, bad URL). */
  connect: 'ECONNECT',
  /** `getToken()` threw or rejected; the connection attempt was abandoned. */
  token: 'ETOKEN',
  /** The server refused a request without saying why (a plain `false`). */
  refused: 'EREFUSED',
  /** A frame from the server was not valid JSON or not a frame. */
  badFrame: ErrorCode.badFrame,
  timeout: ErrorCode.timeout,
  closed: ErrorCode.closed,
} as const;

/** An `Error` with a stable `code`; what invalid calls and use after close reject with. */
export class MeshError extends Error {
  override name = 'MeshError';
  readonly code: string;
  /** The command the error belongs to, when there is one. */
  readonly command?: string;

  constructor(code: string, message: string, command?: string) {
    super(message);
    this.code = code;
    if (command !== undefined) this.command = command;
  }
}

/** Payload of the client's `error` event. */
export interface MeshErrorEvent {
  code: string;
  message: string;
  /** The command that failed, if the error answers a request. */
  command?: string;
  /** The room concerned, when there is one. */
  roomName?: string;
}

/** The `error` field of a failed result (`{success: false, error}`). */
export interface ResultError {
  code: string;
  message: string;
}

/** Throws `EINVALID` (a `MeshError`) unless `roomName` is a valid room name. */
export function assertRoom(roomName: unknown): asserts roomName is string {
  const problem = roomNameProblem(roomName);
  if (problem) throw new MeshError(ErrorCode.invalid, problem);
}
