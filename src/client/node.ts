/**
 * `mesh-presence/client` under the `node` export condition: the browser entry plus
 * `ws` as the default transport when the runtime has no global `WebSocket` (Node 20).
 */
import { WebSocket as WsWebSocket } from 'ws';
import { setDefaultWebSocket, type WebSocketCtor } from './transport.js';

if (typeof (globalThis as { WebSocket?: unknown }).WebSocket !== 'function') {
  setDefaultWebSocket(WsWebSocket as unknown as WebSocketCtor);
}

export * from './index.js';
