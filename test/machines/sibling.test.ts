import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, sendTo, setup } from 'xstate';
import { sibling } from '../../src/machines/system.js';

describe('sibling(): a send to a machine that is not in the actor system', () => {
  it('fails the sender with an error naming both, instead of xstate sending the event to the sender itself', () => {
    let received = 0;
    const machine = setup({}).createMachine({
      on: { PING: { actions: () => received++ } },
      entry: sendTo(sibling('batcher'), { type: 'PING' }),
    });
    const actor = createActor(machine, { systemId: 'committer' });
    let failure: unknown;
    actor.subscribe({ error: (err) => (failure = err) });
    actor.start();
    assert.equal(actor.getSnapshot().status, 'error');
    assert.match(String(failure), /committer sent to batcher, which is not in the actor system/);
    assert.equal(received, 0, 'the event did not come back to the sender');
  });

  it('reaches the sibling when it is there', () => {
    const got: string[] = [];
    const batcher = setup({}).createMachine({ on: { PING: { actions: () => got.push('batcher') } } });
    const root = setup({ actors: { batcher } }).createMachine({
      invoke: { src: 'batcher', systemId: 'batcher' },
      on: { GO: { actions: sendTo(sibling('batcher'), { type: 'PING' }) } },
    });
    const actor = createActor(root, { systemId: 'supervisor' }).start();
    actor.send({ type: 'GO' });
    assert.deepEqual(got, ['batcher']);
    actor.stop();
  });
});
