import ZongJi, { type AnyBinlogEvent, type TableMapEvent } from '@vlasky/zongji';
import type { Connection } from 'mysql2/promise';
import { fromCallback } from 'xstate';
import { classifyMysqlError, errorInfo, SdlError, type ErrorInfo } from '../errors.js';
import { connectExact, exactOptions, explainConnectError } from '../mysql/connection.js';
import { mariadbTracker, mysqlTracker } from '../mysql/gtid.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { preflight } from '../mysql/preflight.js';
import { assertResumable } from '../mysql/retention.js';
import { sourceIdentity, streamEpoch } from '../mysql/source-identity.js';
import { repairTableMapCharsets } from '../mysql/zongji-charset-fix.js';
import { gatePauses, type Pausable } from '../mysql/pause-gate.js';
import { tableMapColumns } from '../mysql/table-map.js';
import { unsupportedColumn, unsupportedReason } from '../mysql/table-schema.js';
import { absentColumns } from '../mysql/row-image.js';
import { type AssemblerEvent, TransactionAssembler } from '../mysql/transaction-assembler.js';
import { xidOf } from '../mysql/txn-statements.js';
import { JsonColumns, jsonValidColumn } from '../mysql/json-columns.js';
import { positionKey } from '../mongo/position.js';
import type { JsonColumnsState, SourcePosition, SourceTransaction } from '../pipeline/types.js';

export interface BinlogStreamInput {
  url: string;
  serverId: number;
  /** Resume right after this position; undefined streams the whole retained binlog. */
  start: SourcePosition | undefined;
  include: readonly string[];
  /** Replication heartbeat period asked of the server; silence for SILENT_PERIODS of it is a dead connection. */
  heartbeatMs?: number;
  /** An open transaction past this many held bytes goes on in slices (AssemblerOptions.sliceBytes). */
  sliceBytes?: number;
}

export const DEFAULT_HEARTBEAT_MS = 5000;
/** Heartbeat periods without a single event or heartbeat before the connection counts as dead. */
const SILENT_PERIODS = 3;

export type BinlogStreamEvent =
  | { type: 'CONNECTED'; server: string }
  | { type: 'TXN'; txn: SourceTransaction }
  | { type: 'HEARTBEAT'; pos: SourcePosition }
  | { type: 'STREAM_ERROR'; error: ErrorInfo };

export type BinlogStreamCommand = { type: 'PAUSE' } | { type: 'RESUME' };

const EVENTS = ['rotate', 'mariadbgtid', 'gtid', 'query', 'xid', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'heartbeat', 'xaprepare', 'unknown', 'previousgtids'];

/**
 * The binlog connection: zongji events → whole transactions, in order. Stops on any error
 * and reports it once; the reader machine decides whether and when to reconnect.
 */
export const binlogStream = fromCallback<BinlogStreamCommand, BinlogStreamInput, BinlogStreamEvent>(({ input, sendBack, receive }) => {
  let zongji: ZongJi | undefined;
  let ctrl: Connection | undefined;
  let stopped = false;
  let failed = false;
  const heartbeatMs = input.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  /** When the stream last showed it is alive; undefined until it is streaming and while paused. */
  let lastSeen: number | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  /** The binlog connection's pause and resume for backpressure, shared fairly with zongji's own (see gatePauses). */
  let backpressure: Pausable | undefined;
  /** JSON columns at the position of the last event read; set once connected. */
  let json: JsonColumns | undefined;
  /** The JSON state last sent on a position: later positions carry one only when it changed. */
  let sentJson: JsonColumnsState | undefined = input.start?.json;
  /** Text columns of blob types (the only ones MariaDB JSON can be) per table, from its last TableMap. */
  const longText = new Map<string, string[]>();
  let chain: Promise<void> = Promise.resolve();
  let chainIdle = true;
  let pending = 0;

  const fail = (err: unknown): void => {
    if (stopped || failed) return;
    failed = true;
    sendBack({ type: 'STREAM_ERROR', error: errorInfo(err, classifyMysqlError) });
  };

  // Bumped at every DDL: an answer asked for before it may describe the table after it.
  let generation = 0;
  /** Today's JSON columns of a table the stream could not follow; undefined when it no longer exists. */
  const askServer = async (db: string, table: string): Promise<ReadonlySet<string> | undefined> => {
    if (ctrl === undefined) return new Set();
    const [rows] = await ctrl.query(
      'SELECT c.CHECK_CLAUSE AS c FROM information_schema.TABLES t LEFT JOIN information_schema.CHECK_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?',
      [db, table]);
    const found = rows as { c: string | null }[];
    if (found.length === 0) return undefined;
    const cols = new Set<string>();
    for (const r of found) {
      const col = r.c === null ? undefined : jsonValidColumn(r.c);
      if (col !== undefined) cols.add(col.toLowerCase());
    }
    return cols;
  };

  /** Positions the stream hands on carry the JSON state where it changed (the checkpoint saves it). */
  const withJson = (pos: SourcePosition, state: JsonColumnsState | undefined): SourcePosition => {
    if (state === undefined || state === sentJson) return pos;
    sentJson = state;
    return { ...pos, json: state };
  };

  /** Events leave in stream order: one waiting for a server answer holds back those after it. */
  const send = (event: BinlogStreamEvent, work?: () => Promise<void>): void => {
    if (work === undefined && chainIdle) {
      sendBack(event);
      return;
    }
    chainIdle = false;
    pending++;
    chain = chain
      .then(async () => {
        await work?.();
        if (!stopped && !failed) sendBack(event);
      })
      .catch(fail)
      .finally(() => {
        if (--pending === 0) chainIdle = true;
      });
  };

  const emit = (txn: SourceTransaction, lookups: ReadonlySet<string>): void => {
    const state = json?.state();
    // An open slice's end is only where its group began: the JSON state belongs to real ends.
    const out: SourceTransaction = txn.slice?.open === true ? txn : { ...txn, end: withJson(txn.end, state) };
    if (lookups.size === 0) {
      send({ type: 'TXN', txn: out });
      return;
    }
    const asked = generation;
    send({ type: 'TXN', txn: out }, async () => {
      for (const k of lookups) {
        const [db, table] = splitKey(k);
        const cols = await askServer(db, table);
        if (cols === undefined) {
          const candidates = longText.get(k) ?? [];
          if (candidates.length > 0) {
            throw new SdlError('SCHEMA_UNKNOWN',
              `cannot tell whether columns ${candidates.join(', ')} of ${db}.${table} were JSON before ${positionKey(txn.end)}: the table no longer exists on the source and sdl did not see it created or changed`,
              'permanent', `re-snapshot the pipeline (\`sdl run --resnapshot\`); keeping sdl running (its checkpoint holds which columns are JSON) avoids it`);
          }
        }
        const found = cols ?? new Set<string>();
        if (asked === generation) json?.learned(db, table, found);
        for (const s of txn.schemas) {
          if (`${s.db}.${s.table}` !== k) continue;
          for (const c of s.columns) if (c.kind === 'string' && found.has(c.name.toLowerCase())) c.kind = 'json';
        }
      }
    });
  };

  const start = async (): Promise<void> => {
    ctrl = await connectExact(input.url);
    const server = await preflight(ctrl);
    if (input.start !== undefined) await assertResumable(ctrl, input.start, server.mariadb);
    if (stopped) return;
    const gtids = server.mariadb ? mariadbTracker(input.start?.gtid) : mysqlTracker(input.start?.gtid);
    const source = await sourceIdentity(ctrl);
    const epoch = streamEpoch(input.start, source);
    // With lower_case_table_names=1 the binlog names every table in lower case.
    const include = new IncludeFilter(server.lowerCaseNames ? input.include.map((n) => n.toLowerCase()) : input.include);
    const tracker = input.start?.json !== undefined ? JsonColumns.fromState(input.start.json) : await JsonColumns.read(ctrl);
    json = tracker;
    const assembler = new TransactionAssembler(input.start, include, gtids, {
      transaction: emit,
      heartbeat: (pos) => send({ type: 'HEARTBEAT', pos: withJson(pos, tracker.state()) }),
    }, (db, table) => tracker.get(db, table), { lowerCaseNames: server.lowerCaseNames, identity: { epoch, source }, ...(input.sliceBytes !== undefined ? { sliceBytes: input.sliceBytes } : {}) });

    // DDL can add or remove a json_valid check. MariaDB logs DDL after a GTID event, so it
    // arrives inside an open group: follow every statement but BEGIN/COMMIT in stream order,
    // so rows after it are typed by the table after it.
    const onDdl = (statement: string, db: string): void => {
      tracker.applyDdl(statement, db, server.lowerCaseNames);
      generation++;
    };

    const collations = await serverCollations(ctrl);
    await repairTableMapCharsets();
    const z = new ZongJi(exactOptions(input.url));
    zongji = z;
    // zongji's two connections are made from the same options; a TLS refusal is explained as connectExact's is.
    z.on('error', (err: unknown) => fail(explainConnectError(err, input.url)));
    z.on('ready', () => {
      lastSeen = Date.now();
      sendBack({ type: 'CONNECTED', server: server.version });
    });
    z.on('binlog', (e: AnyBinlogEvent) => {
      if (lastSeen !== undefined) lastSeen = Date.now();
      if (stopped || failed) return;
      try {
        const ev = translate(e, { collations, include, at: () => `binlog ${z.options.filename ?? '?'}:${z.options.position ?? '?'}` });
        if (ev === undefined) return;
        if (ev.kind === 'query' && !/^\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|XA)\b/i.test(ev.statement)) onDdl(ev.statement, ev.db);
        else if (ev.kind === 'tablemap') longText.set(`${ev.db}.${ev.table}`, ev.columns.filter((c) => LONG_TEXT_TYPES.has(c.type) && c.charset !== null).map((c) => c.name));
        assembler.push(ev);
      } catch (err) {
        fail(err);
      }
    });
    const opts: Parameters<ZongJi['start']>[0] = { serverId: input.serverId, includeEvents: EVENTS };
    if (input.start?.gtid !== undefined) opts.gtidSet = input.start.gtid;
    else if (input.start !== undefined) {
      opts.filename = input.start.file;
      opts.position = input.start.pos;
    } else if (server.mariadb) opts.gtidSet = '';
    else opts.filename = server.firstBinlog;
    z.start(opts);
    if (z.connection !== null && z.connection !== undefined) backpressure = gatePauses(z.connection);
    // Queued on the binlog connection before zongji's own preamble and the dump request, so the
    // server sends a heartbeat whenever it has had nothing to send for a period (in nanoseconds).
    z.connection?.query(`SET @master_heartbeat_period = ${heartbeatMs * 1_000_000}`, (err: unknown) => {
      if (err !== null && err !== undefined) fail(err);
    });
    // Backpressure pauses reading mid-transaction while its slices are staged; the server drops
    // a dump connection it cannot write to for net_write_timeout (60 s by default), and the
    // reconnect reads the open transaction again from its start (measured: a 1M-row transaction
    // staged into FerretDB was re-read from its start three times in 19 minutes).
    z.connection?.query(`SET SESSION net_write_timeout = ${PAUSED_WRITE_TIMEOUT_S}`, (err: unknown) => {
      if (err !== null && err !== undefined) fail(err);
    });
    // A peer gone without a FIN (a dead host, a dropped NAT entry) leaves the socket open and
    // silent forever: no event and no heartbeat for a few periods is a network error.
    watchdog = setInterval(() => {
      if (lastSeen === undefined || Date.now() - lastSeen <= SILENT_PERIODS * heartbeatMs) return;
      fail(new SdlError('SOURCE_SILENT', `no binlog event or heartbeat for ${Date.now() - lastSeen} ms (heartbeat period ${heartbeatMs} ms): the replication connection is dead`, 'transient'));
    }, heartbeatMs);
    watchdog.unref();
  };

  start().catch(fail);

  receive((cmd) => {
    const conn = backpressure;
    if (conn === undefined) return;
    // A paused connection is silent on purpose: the watchdog only counts silence while reading.
    if (cmd.type === 'PAUSE') {
      lastSeen = undefined;
      conn.pause();
    } else {
      lastSeen = Date.now();
      conn.resume();
    }
  });

  return () => {
    stopped = true;
    clearInterval(watchdog);
    try {
      zongji?.stop();
    } catch {
      // zongji throws when stopped before its connection exists; nothing to release then.
    }
    void ctrl?.end().catch(() => undefined);
  };
});

/** How long the source keeps a paused replication connection (net_write_timeout, seconds). */
const PAUSED_WRITE_TIMEOUT_S = 3600;

/** Blob types: a MariaDB JSON column is a LONGTEXT, logged as one of them with a charset. */
const LONG_TEXT_TYPES = new Set([249, 250, 251, 252, 140]);

function splitKey(key: string): [string, string] {
  const dot = key.indexOf('.');
  return [key.slice(0, dot), key.slice(dot + 1)];
}

/** Collation id → charset name, as the server itself defines them (MariaDB ids differ from MySQL's). */
async function serverCollations(conn: Connection): Promise<Map<number, string>> {
  const [rows] = await conn.query('SELECT ID AS id, CHARACTER_SET_NAME AS cs FROM information_schema.COLLATIONS WHERE ID IS NOT NULL');
  return new Map((rows as { id: number | string; cs: string }[]).map((r) => [Number(r.id), r.cs]));
}

export interface TranslateContext {
  collations: ReadonlyMap<number, string>;
  include: IncludeFilter;
  /** Where the stream is: zongji holds its resume position at the transaction's start until its commit. */
  at: () => string;
}

/** zongji event → the assembler's vocabulary (exported for tests on recorded event sequences). */
export function translate(e: AnyBinlogEvent, ctx: TranslateContext): AssemblerEvent | undefined {
  switch (e.getTypeName()) {
    case 'Rotate': {
      const r = e as Extract<AnyBinlogEvent, { binlogName: string; position: number }>;
      return { kind: 'rotate', file: r.binlogName, position: r.position };
    }
    case 'MariadbGtid': {
      const g = e as Extract<AnyBinlogEvent, { seqNo: number | string; standalone: boolean; preparedXa: boolean }>;
      // MariaDB logs no XA START query: the GTID event's flag says the group is an XA branch.
      return { kind: 'begin', gtid: g.gtid, standalone: g.standalone, nextPosition: g.nextPosition, timestamp: g.timestamp, ...(g.preparedXa ? { xa: true } : {}) };
    }
    case 'Gtid': {
      const g = e as Extract<AnyBinlogEvent, { sid: string; gno: number | string; flags: number }>;
      // MySQL's GTID event does not say whether a BEGIN follows: a DDL comes without one. The
      // assembler treats the group as standalone until a BEGIN arrives.
      return { kind: 'begin', gtid: g.gtid, standalone: true, nextPosition: g.nextPosition, timestamp: g.timestamp };
    }
    case 'TableMap': {
      const t = e as TableMapEvent;
      const columns = tableMapColumns(t, ctx.collations);
      if (ctx.include.includes(t.schemaName, t.tableName)) {
        for (const c of columns) {
          const reason = unsupportedReason(c);
          if (reason !== undefined) {
            throw unsupportedColumn(t.schemaName, t.tableName, c.name, reason, `${ctx.at()}, GTID ${t.gtid ?? 'unknown'}`);
          }
        }
      }
      return { kind: 'tablemap', tableId: t.tableId, db: t.schemaName, table: t.tableName, columns, primaryKey: t.primaryKey };
    }
    case 'WriteRows':
    case 'UpdateRows':
    case 'DeleteRows': {
      const r = e as Extract<AnyBinlogEvent, { rows: unknown[]; tableId: number }>;
      const op = e.getTypeName() === 'WriteRows' ? 'insert' : e.getTypeName() === 'UpdateRows' ? 'update' : 'delete';
      // zongji reads a column missing from the image as null; the bitmaps say which are missing.
      const images = r as unknown as { numberOfColumns: number; columns_present_bitmap?: Buffer; columns_present_bitmap2?: Buffer };
      const absent = absentColumns(images.numberOfColumns, [images.columns_present_bitmap, images.columns_present_bitmap2]);
      return { kind: 'rows', op, tableId: r.tableId, rows: r.rows as never, size: r.size, timestamp: r.timestamp, absent, nextPosition: r.nextPosition };
    }
    case 'Xid':
      return { kind: 'commit', nextPosition: e.nextPosition, timestamp: e.timestamp };
    case 'Query': {
      const q = e as Extract<AnyBinlogEvent, { query: string; schema: string }>;
      return { kind: 'query', db: q.schema, statement: q.query, nextPosition: q.nextPosition, timestamp: q.timestamp };
    }
    case 'Heartbeat': {
      const h = e as Extract<AnyBinlogEvent, { binlogName: string; getTypeName(): 'Heartbeat' }>;
      return { kind: 'heartbeat', file: h.binlogName, nextPosition: h.nextPosition };
    }
    case 'XaPrepare': {
      const x = e as Extract<AnyBinlogEvent, { getTypeName(): 'XaPrepare' }>;
      return { kind: 'xaprepare', xid: xidOf(x.xidFormatId, x.xidGtrid, x.xidBqual), onePhase: x.onePhase, nextPosition: x.nextPosition, timestamp: x.timestamp };
    }
    case 'PreviousGtids':
      return { kind: 'previous-gtids', gtids: (e as Extract<AnyBinlogEvent, { gtidSet: string; sids: unknown }>).gtidSet };
    case 'Unknown':
      return { kind: 'unknown', size: e.size, nextPosition: e.nextPosition };
    // None of these carries a row change: Format describes the file's event layout; GTID lists
    // and binlog checkpoints summarise positions (the GTID of each group arrives
    // in its own GTID event); AnnotateRows and RowsQuery repeat the SQL text of row events that
    // follow; AnonymousGtid opens a group whose rows and commit arrive as their own events;
    // StartEncryption only switches the file's encryption; IntVar sets LAST_INSERT_ID or
    // INSERT_ID for the statement-format DML that follows it, which the assembler judges.
    case 'Format': case 'MariadbGtidList': case 'BinlogCheckpoint': case 'AnnotateRows': case 'RowsQuery':
    case 'AnonymousGtid': case 'IntVar': case 'StartEncryption':
      return undefined;
    case 'TransactionPayload':
    case 'PartialUpdateRows':
      // Their rows cannot be decoded: skipping them would lose data without a trace.
      throw new SdlError('UNSUPPORTED_BINLOG', `the source wrote a ${e.getTypeName()} event, whose rows sdl cannot decode`, 'config',
        'set binlog_transaction_compression=OFF and binlog_row_value_options=\'\' on the source');
  }
}
