/**
 * The baseline: a bare `ws` broadcast server with no presence logic, speaking just
 * enough of the Mesh frames that the same load generator drives it.
 *
 * A room is a `Set` of sockets. `join` adds the socket, pushes a `join` update to the
 * other members and answers with the member list; `subscribe` answers with the member
 * list; `publish` serialises one `mesh/presence-update` state push, encodes it once
 * and writes that buffer to every member. No store, no validation beyond what keeps
 * it from crashing, no heartbeats: this is the practical limit of fan-out over `ws`.
 *
 * Writes are batched per event-loop turn by default (each socket corked at its first
 * write in a turn, uncorked in `setImmediate`): on this machine a `writev` syscall per
 * frame saturates the core at a few tens of thousands of frames per second, and a
 * baseline that collapses there would not be a limit. `batchWrites: false` gives the
 * naive server (one syscall per frame) for comparison.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Command } from '../src/protocol.js';

export interface BareServer {
  /** Resolves to the `ws://` URL it listens on. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
  readonly connectionCount: number;
}

interface Member {
  id: string;
  rooms: Set<string>;
}

export interface BareServerOptions {
  /** Cork each socket for the rest of the event-loop turn at its first write. Default true. */
  batchWrites?: boolean;
}

/** Creates the bare broadcast server; `perMessageDeflate` is off, as in `ws` 8's server default. */
export function createBareServer(options: BareServerOptions = {}): BareServer {
  const batchWrites = options.batchWrites ?? true;
  let wss: WebSocketServer | null = null;
  const rooms = new Map<string, Set<WebSocket>>();
  const members = new WeakMap<WebSocket, Member>();
  const corked: Socket[] = [];

  function flush(): void {
    for (const socket of corked.splice(0, corked.length)) socket.uncork();
  }

  /** Sends a text frame; with `batchWrites` it leaves with the socket's other frames of this turn. */
  function write(ws: WebSocket, data: Buffer | string): void {
    if (batchWrites) {
      // `ws` keeps the net.Socket private; corking it is the only way to batch frames.
      const socket = (ws as unknown as { _socket?: Socket })._socket;
      if (socket && socket.writableCorked === 0) {
        socket.cork();
        if (corked.push(socket) === 1) setImmediate(flush);
      }
    }
    ws.send(data, { binary: false });
  }

  /** Encodes once; the same buffer goes to every socket (servers do not mask). */
  function broadcast(room: Set<WebSocket>, frame: unknown, except?: WebSocket): void {
    const data = Buffer.from(JSON.stringify(frame));
    for (const socket of room) {
      if (socket !== except) write(socket, data);
    }
  }

  function push(type: 'join' | 'leave', id: string, roomName: string, except?: WebSocket): void {
    const room = rooms.get(roomName);
    if (!room) return;
    broadcast(room, { command: Command.presenceUpdate, payload: { type, connectionId: id, roomName, timestamp: Date.now() } }, except);
  }

  function ids(room: Set<WebSocket> | undefined): string[] {
    return room ? [...room].map((socket) => members.get(socket)!.id) : [];
  }

  function onMessage(socket: WebSocket, member: Member, data: Buffer): void {
    let frame: { id?: number; command?: string; payload?: any };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    const reply = (payload: unknown) => write(socket, JSON.stringify({ id: frame.id, command: frame.command, payload }));
    const roomName = frame.payload?.roomName as string;
    switch (frame.command) {
      case Command.joinRoom: {
        let room = rooms.get(roomName);
        if (!room) rooms.set(roomName, (room = new Set()));
        if (!room.has(socket)) {
          push('join', member.id, roomName);
          room.add(socket);
          member.rooms.add(roomName);
        }
        reply({ success: true, present: ids(room) });
        return;
      }
      case Command.subscribePresence:
        reply({ success: true, present: ids(rooms.get(roomName)), states: {} });
        return;
      case Command.publishPresenceState: {
        const room = rooms.get(roomName);
        if (!room?.has(socket)) return reply(false);
        broadcast(room, {
          command: Command.presenceUpdate,
          payload: { type: 'state', connectionId: member.id, roomName, state: frame.payload.state, timestamp: Date.now() },
        });
        reply(true);
        return;
      }
      case Command.pong:
        return;
      default:
        reply({ error: `unknown command ${frame.command}`, code: 'ENOTFOUND', name: 'MeshError' });
    }
  }

  function onClose(socket: WebSocket, member: Member): void {
    for (const roomName of member.rooms) {
      const room = rooms.get(roomName)!;
      room.delete(socket);
      if (room.size === 0) rooms.delete(roomName);
      else push('leave', member.id, roomName);
    }
  }

  return {
    get connectionCount() {
      return wss?.clients.size ?? 0;
    },
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        wss = new WebSocketServer({ port, host, perMessageDeflate: false });
        wss.once('error', reject);
        wss.on('connection', (socket) => {
          // Ids of the same size as our server's, so that both send the same bytes.
          const member: Member = { id: randomBytes(12).toString('base64url'), rooms: new Set() };
          members.set(socket, member);
          socket.on('error', () => {});
          socket.on('message', (data: Buffer) => onMessage(socket, member, data));
          socket.on('close', () => onClose(socket, member));
          write(socket, JSON.stringify({ command: Command.assignId, payload: member.id }));
        });
        wss.once('listening', () => {
          const address = wss!.address() as AddressInfo;
          resolve(`ws://${address.address}:${address.port}`);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        if (!wss) return resolve();
        for (const socket of wss.clients) socket.terminate();
        wss.close(() => resolve());
      });
    },
  };
}
