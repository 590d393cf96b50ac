/**
 * Serializes the writers of mirror documents inside one `sdl run`: the committer (each batch's
 * write step, and the replay of staged batches) and the online snapshot (each chunk). The
 * replace-set strategy reads positions, deletes and inserts in separate commands, so two
 * writers interleaving on one key could lose the newer image; and the online snapshot's
 * exactness argument needs to know, while it writes a chunk, which changes are applied.
 */
export class MirrorLock {
  private tail: Promise<unknown> = Promise.resolve();

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
