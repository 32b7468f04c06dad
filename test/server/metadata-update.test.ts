/**
 * The `mesh/metadata-update` extension push: a connection's new metadata reaches, once
 * each, the connections that may read it, and no one else.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MeshClient } from '../../src/client/node.js';
import { connectRaw, type RawClient, type RawFrame } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { quiet } from '../helpers/time.js';

type T = { after(fn: () => unknown): void };

async function connect(t: T, url: string): Promise<RawClient> {
  const c = await connectRaw(url);
  t.after(() => c.close());
  return c;
}

const isMetadataUpdate = (f: RawFrame): boolean => f.command === 'mesh/metadata-update';

describe('mesh/metadata-update', () => {
  test('reaches members and subscribers of the owner’s rooms once each, not the owner or strangers', async (t) => {
    const { url } = await startServer(t);
    const [owner, member, subscriber, both, stranger] = await Promise.all(
      Array.from({ length: 5 }, () => connect(t, url)),
    );
    for (const room of ['r1', 'r2']) await owner!.request('mesh/join-room', { roomName: room });
    await member!.request('mesh/join-room', { roomName: 'r1' });
    await subscriber!.request('mesh/subscribe-presence', { roomName: 'r2' });
    // joined to and subscribed to both rooms: still one push
    for (const room of ['r1', 'r2']) {
      await both!.request('mesh/join-room', { roomName: room });
      await both!.request('mesh/subscribe-presence', { roomName: room });
    }
    await stranger!.request('mesh/join-room', { roomName: 'elsewhere' });
    assert.deepEqual(await owner!.request('mesh/set-my-connection-metadata', { metadata: { name: 'Bo' } }), {
      success: true,
    });
    const expected = { command: 'mesh/metadata-update', payload: { connectionId: owner!.id, metadata: { name: 'Bo' } } };
    for (const c of [member!, subscriber!, both!]) assert.deepEqual(await c.waitFor(isMetadataUpdate), expected);
    await quiet(50);
    for (const c of [member!, subscriber!, both!]) {
      assert.equal(c.frames.filter(isMetadataUpdate).length, 1, 'one push per recipient');
    }
    assert.equal(owner!.frames.filter(isMetadataUpdate).length, 0, 'the owner has its reply');
    assert.equal(stranger!.frames.filter(isMetadataUpdate).length, 0, 'a stranger learns nothing');
  });

  test('end to end: A’s getConnectionMetadata(B) sees B’s new name', async (t) => {
    const { url } = await startServer(t);
    const a = new MeshClient(url, { requestTimeout: 2000 });
    const b = new MeshClient(url, { requestTimeout: 2000 });
    t.after(() => a.close());
    t.after(() => b.close());
    await Promise.all([a.connect(), b.connect()]);
    await a.joinRoom('room');
    await b.setConnectionMetadata({ name: 'Old' });
    await b.joinRoom('room');
    const bId = b.connectionId!;
    assert.deepEqual(await a.getConnectionMetadata(bId), { name: 'Old' });
    let timer: NodeJS.Timeout | undefined;
    const changed = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 2000);
      a.on('metadata', (e: { connectionId: string }) => {
        if (e.connectionId === bId) resolve(true);
      });
    });
    await b.setConnectionMetadata({ name: 'New' });
    const pushed = await changed;
    clearTimeout(timer);
    assert.equal(pushed, true, 'A was told of the change');
    assert.deepEqual(await a.getConnectionMetadata(bId), { name: 'New' });
  });
});
