/**
 * Request/reply over the `child_process.fork` IPC channel, shared by the benchmark's
 * main process and its children (server processes, load workers).
 *
 * The channel uses `serialization: 'advanced'` so that latency samples travel as
 * typed arrays rather than as JSON number lists.
 */
import type { ChildProcess } from 'node:child_process';

interface IpcRequest {
  reqId: number;
  type: string;
  body: unknown;
}

interface IpcReply {
  reqId: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The main process's side of one child: typed requests with a deadline each. */
export class IpcPeer {
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  #gone: Error | null = null;
  /** True once the child exited, whatever the reason. */
  exited = false;

  constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (message: IpcReply) => {
      const pending = this.#pending.get(message.reqId);
      if (!pending) return;
      this.#pending.delete(message.reqId);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`${name}: ${message.error}`));
    });
    // A send on a channel that just closed emits `error`; the `exit` below reports it.
    child.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.#gone = new Error(`${name} (pid ${child.pid}) exited (code ${code}, signal ${signal})`);
      for (const pending of this.#pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(this.#gone);
      }
      this.#pending.clear();
    });
  }

  /** Sends `type` with `body`; rejects when the child fails, exits or exceeds `timeoutMs`. */
  request<T>(type: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (!this.child.connected) return Promise.reject(new Error(`${this.name}: IPC channel closed`));
    const reqId = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(reqId);
        reject(new Error(`${this.name}: no answer to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(reqId, { resolve: resolve as (value: unknown) => void, reject, timer });
      const request: IpcRequest = { reqId, type, body };
      this.child.send(request);
    });
  }

  /** Waits for the child to exit, killing it after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect(); // children exit on disconnect
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The child's side: answers each request with `handler(type, body)`. The child exits
 * when the parent goes away, so that no orphan outlives a crashed benchmark.
 */
export function serveIpc(handler: (type: string, body: any) => Promise<unknown>): void {
  if (!process.send) throw new Error('this module must be started with child_process.fork');
  process.on('message', (message: IpcRequest) => {
    void handler(message.type, message.body).then(
      (result) => reply({ reqId: message.reqId, ok: true, result }),
      (error: unknown) =>
        reply({
          reqId: message.reqId,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

function reply(message: IpcReply): void {
  if (process.connected) process.send!(message);
}
