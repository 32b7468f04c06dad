/**
 * A load-generating worker: holds a share of the benchmark's client sockets, speaking
 * raw Mesh frames over `ws` (not our client library, whose overhead is not measured
 * here) so that the same worker drives the bare server and ours.
 *
 * Requests (over IPC, see `fanout.ts`): `open`, `publish`, `collect`, `close`.
 */
import WebSocket from 'ws';
import { Command } from '../src/protocol.js';
import { serveIpc } from './lib/ipc.js';
import { Samples, wallNow } from './lib/stats.js';

export interface OpenRequest {
  urls: string[];
  /** Global index of this worker's first new client (spreads rooms and URLs). */
  offset: number;
  count: number;
  rooms: string[];
  subscribe: boolean;
  /** Clients being set up at once in this worker; `0` = all at once. */
  concurrency: number;
  /** When > 0, a client is done once it has seen this many members (itself included). */
  expectMembers: number;
  timeoutMs: number;
}

export interface OpenResult {
  opened: number;
  failures: string[];
  /** Per new client: from creating its socket to the last setup reply (join/subscribe). */
  readyMs: Float64Array;
  /** Per new client that saw every member: from creating its socket to seeing the last. */
  allSeenMs: Float64Array;
  /** Clients that did not see every member within the deadline. */
  incomplete: number;
  firstStartAt: number;
  lastAllSeenAt: number;
}

export interface PublishRequest {
  runId: string;
  /** Global publisher indexes handled by this worker (its first clients publish). */
  publishers: number[];
  totalPublishers: number;
  intervalMs: number;
  /** Wall-clock time of the first publish of publisher 0. */
  startAt: number;
  warmupMs: number;
  durationMs: number;
  padBytes: number;
}

export interface PublishResult {
  measured: number;
  warmup: number;
  refused: number;
  failures: string[];
}

export interface CollectRequest {
  runId: string;
  /** Measured state events each client must receive. */
  expectedPerClient: number;
  drainTimeoutMs: number;
}

export interface CollectResult {
  received: number;
  /** Events that arrived with a sequence number not above the last one seen. */
  outOfOrder: number;
  latencies: Float64Array;
  /** Socket closes, socket errors and `mesh/error` pushes since the last collect or close: why events went missing. */
  failures: string[];
}

/** The state that publishers send; receivers read `run`, `pub`, `seq`, `sentAt`, `measured`. */
interface BenchState {
  run: string;
  pub: number;
  seq: number;
  sentAt: number;
  measured: 0 | 1;
  pad: string;
}

class BenchClient {
  ws: WebSocket;
  id: string | null = null;
  room = '';
  readonly startedAt = wallNow();
  readyAt = 0;
  allSeenAt = 0;
  members = new Set<string>();
  lastSeq: number[] = [];
  received = 0;
  outOfOrder = 0;
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (payload: any) => void; reject: (error: Error) => void }>();
  readonly #assigned: Promise<void>;
  #onAllSeen: (() => void) | null = null;

  constructor(
    url: string,
    readonly expectMembers: number,
  ) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    let assigned!: () => void;
    let failed!: (error: Error) => void;
    this.#assigned = new Promise((resolve, reject) => {
      assigned = resolve;
      failed = reject;
    });
    this.ws.on('error', (error) => {
      if (this.readyAt > 0 && !closing) failures.add(`socket error: ${error.message}`);
    });
    this.ws.on('close', (code) => {
      const error = new Error(`socket closed with ${code}`);
      failed(error); // no effect once assigned
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
      if (this.readyAt > 0 && !closing) failures.add(`socket closed by the server with ${code}`);
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as { id?: number; command: string; payload?: any };
      if (frame.command === Command.assignId) {
        this.id = frame.payload as string;
        assigned();
      } else this.#onFrame(frame);
    });
  }

  #onFrame(frame: { id?: number; command: string; payload?: any }): void {
    if (typeof frame.id === 'number') {
      const pending = this.#pending.get(frame.id);
      this.#pending.delete(frame.id);
      pending?.resolve(frame.payload);
      return;
    }
    switch (frame.command) {
      case Command.presenceUpdate: {
        const update = frame.payload as { type: string; connectionId: string; state?: BenchState | null };
        if (update.type === 'state') {
          const state = update.state;
          if (state && state.measured === 1 && state.run === currentRun) {
            latencies.push(wallNow() - state.sentAt);
            this.received++;
            if (state.seq <= (this.lastSeq[state.pub] ?? -1)) this.outOfOrder++;
            else this.lastSeq[state.pub] = state.seq;
            if (this.received >= expectedPerClient) checkDrained();
          }
        } else if (update.type === 'join') {
          this.#addMembers([update.connectionId]);
        } else if (update.type === 'leave') {
          this.members.delete(update.connectionId);
        }
        return;
      }
      case Command.ping:
        this.send(Command.pong, {});
        return;
      case Command.latencyRequest:
        this.send(Command.latencyResponse, {});
        return;
      case Command.error:
        failures.add(`mesh/error push: ${JSON.stringify(frame.payload)}`);
        return;
    }
  }

  #addMembers(present: unknown): void {
    if (!Array.isArray(present)) return;
    for (const entry of present) {
      // Our server sends ids, a plain Mesh server `{id, metadata}`.
      this.members.add(typeof entry === 'string' ? entry : (entry as { id: string }).id);
    }
    if (this.expectMembers > 0 && this.allSeenAt === 0 && this.members.size >= this.expectMembers) {
      this.allSeenAt = wallNow();
      this.#onAllSeen?.();
    }
  }

  send(command: string, payload: unknown, id?: number): void {
    this.ws.send(JSON.stringify(id === undefined ? { command, payload } : { id, command, payload }));
  }

  /** Resolves with the reply's payload; rejects when the socket closes first. */
  request(command: string, payload: unknown): Promise<any> {
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.send(command, payload, id);
    });
  }

  /** Connects, joins and optionally subscribes; then waits to have seen every member. */
  async setUp(room: string, subscribe: boolean): Promise<void> {
    this.room = room;
    await this.#assigned;
    const joined = await this.request(Command.joinRoom, { roomName: room });
    if (joined?.success !== true) throw new Error(`join refused: ${JSON.stringify(joined)}`);
    this.#addMembers(joined.present);
    if (subscribe) {
      const subscribed = await this.request(Command.subscribePresence, { roomName: room });
      if (subscribed?.success !== true) throw new Error(`subscribe refused: ${JSON.stringify(subscribed)}`);
      this.#addMembers(subscribed.present);
    }
    this.readyAt = wallNow();
    if (this.expectMembers > 0 && this.allSeenAt === 0) {
      await new Promise<void>((resolve) => (this.#onAllSeen = resolve));
    }
  }
}

const clients: BenchClient[] = [];
const failures = new Set<string>();
let latencies = new Samples();
let currentRun = '';
let expectedPerClient = Infinity;
let closing = false;
let drained: (() => void) | null = null;

function checkDrained(): void {
  if (drained && clients.every((client) => client.received >= expectedPerClient)) drained();
}

async function open(request: OpenRequest): Promise<OpenResult> {
  closing = false;
  const fresh: BenchClient[] = [];
  const errors: string[] = [];
  let next = 0;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve();
    }, request.timeoutMs);
  });
  const setUpOne = async (index: number) => {
    const global = request.offset + index;
    const client = new BenchClient(request.urls[global % request.urls.length]!, request.expectMembers);
    fresh.push(client);
    try {
      await client.setUp(request.rooms[global % request.rooms.length]!, request.subscribe);
    } catch (error) {
      if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
    }
  };
  const lane = async () => {
    while (next < request.count && !timedOut) await setUpOne(next++);
  };
  const lanes = request.concurrency > 0 ? Math.min(request.concurrency, request.count) : request.count;
  await Promise.race([Promise.all(Array.from({ length: lanes }, lane)), deadline]);
  clearTimeout(timer);
  // Only clients that finished set-up take part in what follows.
  for (const client of fresh) {
    if (client.readyAt > 0) clients.push(client);
    else client.ws.terminate();
  }
  const ready = fresh.filter((client) => client.readyAt > 0);
  const seen = fresh.filter((client) => client.allSeenAt > 0);
  return {
    opened: ready.length,
    failures: [...errors, ...[...failures].slice(0, 5)],
    readyMs: Float64Array.from(ready, (client) => client.readyAt - client.startedAt),
    allSeenMs: Float64Array.from(seen, (client) => client.allSeenAt - client.startedAt),
    incomplete: request.expectMembers > 0 ? fresh.length - seen.length : 0,
    firstStartAt: Math.min(...fresh.map((client) => client.startedAt)),
    lastAllSeenAt: Math.max(0, ...seen.map((client) => client.allSeenAt)),
  };
}

async function publish(request: PublishRequest): Promise<PublishResult> {
  currentRun = request.runId;
  expectedPerClient = Infinity;
  latencies = new Samples();
  for (const client of clients) {
    client.received = 0;
    client.outOfOrder = 0;
    client.lastSeq = [];
  }
  const result: PublishResult = { measured: 0, warmup: 0, refused: 0, failures: [] };
  const pad = 'x'.repeat(request.padBytes);
  const measureFrom = request.startAt + request.warmupMs;
  const stopAt = measureFrom + request.durationMs;
  const acks: Array<Promise<void>> = [];
  const refuse = (why: string) => {
    result.refused++;
    if (result.failures.length < 5) result.failures.push(why);
  };
  await Promise.all(
    request.publishers.map(async (pub, local) => {
      const client = clients[local];
      if (!client) throw new Error(`publisher ${pub} has no client`);
      // Publishers are staggered evenly within an interval, as independent users would be.
      let due = request.startAt + (pub * request.intervalMs) / request.totalPublishers;
      for (let seq = 0; due < stopAt; seq++, due += request.intervalMs) {
        const wait = due - wallNow();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const sentAt = wallNow();
        const measured = sentAt >= measureFrom && sentAt < stopAt ? 1 : 0;
        const state: BenchState = { run: request.runId, pub, seq, sentAt, measured, pad };
        if (measured) result.measured++;
        else result.warmup++;
        acks.push(
          client.request(Command.publishPresenceState, { roomName: client.room, state }).then(
            (answer) => {
              if (answer !== true) refuse(`publish answered ${JSON.stringify(answer)}`);
            },
            (error: Error) => refuse(`publish failed: ${error.message}`),
          ),
        );
      }
    }),
  );
  await Promise.all(acks);
  return result;
}

async function collect(request: CollectRequest): Promise<CollectResult> {
  expectedPerClient = request.expectedPerClient;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, request.drainTimeoutMs);
    function finish() {
      clearTimeout(timer);
      drained = null;
      resolve();
    }
    drained = finish;
    checkDrained();
  });
  let received = 0;
  let outOfOrder = 0;
  for (const client of clients) {
    received += client.received;
    outOfOrder += client.outOfOrder;
  }
  const reported = [...failures].slice(0, 5);
  failures.clear();
  return { received, outOfOrder, latencies: latencies.toArray(), failures: reported };
}

async function closeAll(): Promise<{ closed: number; failures: string[] }> {
  closing = true;
  const reported = [...failures];
  failures.clear();
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.ws.readyState === WebSocket.CLOSED) return resolve();
          client.ws.once('close', () => resolve());
          client.ws.terminate();
        }),
    ),
  );
  const closed = clients.length;
  clients.length = 0;
  latencies = new Samples();
  return { closed, failures: reported };
}

serveIpc(async (type, body) => {
  switch (type) {
    case 'open':
      return open(body as OpenRequest);
    case 'publish':
      return publish(body as PublishRequest);
    case 'collect':
      return collect(body as CollectRequest);
    case 'close':
      return closeAll();
    default:
      throw new Error(`unknown request ${type}`);
  }
});
