import { GtidSet, MariadbGtidPosition } from '@vlasky/zongji';
import type { GtidTracker } from './transaction-assembler.js';

/** MariaDB: the last transaction per replication domain (`0-1-42,1-3-7`). */
export function mariadbTracker(start: string | undefined): GtidTracker {
  const pos = MariadbGtidPosition.parse(start ?? '');
  return {
    commit(gtid) {
      const m = /^(\d+)-(\d+)-(\d+)$/.exec(gtid);
      if (m === null) throw new Error(`malformed MariaDB GTID ${gtid}`);
      pos.add({ domainId: Number(m[1]), serverId: Number(m[2]), seqNo: m[3] });
      return pos.toString();
    },
    current: () => (pos.isEmpty() ? undefined : pos.toString()),
    // MariaDB streams from a GTID position ('' = the whole binlog), never from an executed set.
    seed: () => undefined,
  };
}

/** MySQL: the executed GTID set (`uuid:1-42,…`). */
export function mysqlTracker(start: string | undefined): GtidTracker {
  let set = GtidSet.parse(start ?? '');
  return {
    commit(gtid) {
      set.add(gtid);
      return set.toString();
    },
    current: () => (set.isEmpty() ? undefined : set.toString()),
    seed(executedBefore) {
      // A resumed set already covers everything before it; only a first start needs the
      // history the oldest retained binlog does not hold, or the server asks for purged GTIDs.
      if (set.isEmpty()) set = GtidSet.parse(executedBefore);
    },
  };
}
