import { MongoClient } from 'mongodb';
import { probeCapabilities, type Capabilities } from '../../src/mongo/capabilities.js';
import { startStack, type Stack } from './stack.js';

/** A started stack, a client to its MongoDB-wire server and what that server can do. */
export interface ConnectedStack {
  stack: Stack;
  client: MongoClient;
  caps: Capabilities;
}

/**
 * The set-up of the tests that drive the commit path directly, without sdl: the stack, a client
 * that gives up on a missing server in 3 s rather than the driver's 30, and the capabilities the
 * commit context needs. A failed probe stops the stack it started.
 */
export async function connectedStack(): Promise<ConnectedStack> {
  const stack = await startStack();
  const client = new MongoClient(stack.mongo.url, { serverSelectionTimeoutMS: 3000 });
  try {
    return { stack, client, caps: await probeCapabilities(client, client.db('sdl_probe')) };
  } catch (err) {
    await closeStack({ stack, client });
    throw err;
  }
}

/** Closes what connectedStack opened; what a failed `before` left unset is skipped. */
export async function closeStack(opened: Partial<ConnectedStack>): Promise<void> {
  await opened.client?.close();
  await opened.stack?.stop();
}
