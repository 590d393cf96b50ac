import fc from 'fast-check';
import { tableSpecArb, type TableSpec } from './schema.js';
import { enabled } from './switches.js';

/**
 * What fast-check generates and shrinks: abstract choices, not SQL. The interpreter
 * (program.ts) turns any choice list into a valid program against its model of the tables,
 * so every shrunk list is still a runnable case.
 */
export type StmtChoice =
  | { op: 'insert' | 'update' | 'delete' | 'reinsert' | 'updateMany' | 'changeKey'; table: number; a: number; vals: number[] }
  | { op: 'insertBulk'; table: number; a: number; n: number; vals: number[] }
  | { op: 'updateAll' | 'deleteOdd'; table: number; vals: number[] }
  /**
   * Inside an explicit transaction only: `SAVEPOINT sp` (redefines it), then, `undo` statements
   * later (or before the transaction ends), `ROLLBACK TO SAVEPOINT sp`; never when `undo` is 0.
   */
  | { op: 'savepoint'; undo: number };

export type DdlChoice =
  | { ddl: 'addColumn' | 'dropColumn' | 'modifyColumn' | 'renameColumn' | 'renameTable' | 'truncate'; table: number; a: number; otherDb: boolean }
  | { ddl: 'dropRecreate' | 'createTable' | 'createOrReplace' | 'createSelect'; table: number; spec: TableSpec; otherDb: boolean }
  /**
   * On the first partitioned table from `table` on: DROP/TRUNCATE PARTITION `a`, or EXCHANGE
   * PARTITION `a` WITH a new non-partitioned copy of the table holding `n` rows of that
   * partition, named to be included or not.
   */
  | { ddl: 'dropPartition' | 'truncatePartition' | 'exchangePartition'; table: number; a: number; n: number; included: boolean; otherDb: boolean }
  /**
   * `RENAME TABLE t TO t_old, t_new TO t`: t_new (`CREATE TABLE … LIKE t` under a name the
   * include list leaves out, `n` rows) takes t's place; t_old is included or not.
   */
  | { ddl: 'swapIn'; table: number; a: number; n: number; included: boolean; otherDb: boolean };

export type StepChoice =
  | { kind: 'txn'; stmts: StmtChoice[]; end: 'commit' | 'rollback' | 'autocommit' | 'xa' | 'xaOnePhase' | 'xaRollback' }
  | { kind: 'ddl'; ddl: DdlChoice }
  /** `sdl snapshot --tables <db>.<table>` against the running pipeline; the copy goes on beside later steps and faults. */
  | { kind: 'resnapshot'; table: number };

export type FaultKind = 'kill-sdl' | 'mongo-kill' | 'mongo-stop' | 'mariadb-restart' | 'flush-logs' | 'purge-logs';

export interface FaultChoice {
  after: number;
  kind: FaultKind;
  /** How long a stopped server stays down, or how long to wait before the fault. */
  ms: number;
}

/** A shape sdl must refuse loudly (switches.ts says which are generated), after a valid prefix. */
export interface RefusalChoice {
  kind: 'statementFormat' | 'partialImage' | 'primaryKeyChange';
  table: number;
  a: number;
  /** MIXED instead of STATEMENT; NOBLOB instead of MINIMAL. */
  mixed: boolean;
}

export function refusalArb(kinds: readonly RefusalChoice['kind'][]): fc.Arbitrary<RefusalChoice> {
  return fc.record({ kind: fc.constantFrom(...kinds), table: fc.nat(9), a: fc.nat(1000), mixed: fc.boolean() });
}

export interface CaseChoice {
  tables: TableSpec[];
  steps: StepChoice[];
  faults: FaultChoice[];
  refusal?: RefusalChoice;
  /**
   * sdl's batch.maxBytes (with maxInFlightBytes at its 1 MiB minimum, so also the slice
   * threshold min(batch.maxBytes, maxInFlightBytes / 4)): a few generated rows pass it, so
   * transactions are streamed in open slices before their COMMIT. Undefined: the defaults.
   */
  sliceBytes?: number | undefined;
  /** snapshot.chunkRows of the case's sdl run: small, so an online re-snapshot takes several chunks. */
  chunkRows?: number | undefined;
  /**
   * The first step run with sdl started: the steps before it run while no sdl runs, and sdl then
   * starts without a checkpoint, so it takes the initial snapshot while the later steps (DDL
   * included) and faults run. Undefined: sdl streams from before the first step.
   */
  snapshotAt?: number | undefined;
}

const vals = fc.array(fc.nat(1000), { minLength: 1, maxLength: 6 });

export function stmtArb(): fc.Arbitrary<StmtChoice> {
  const table = fc.nat(9);
  const a = fc.nat(1000);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('insert' as const), table, a, vals }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('insertBulk' as const), table, a, n: fc.integer({ min: 2, max: 6 }), vals }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('update' as const), table, a, vals }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('updateMany' as const), table, a, vals }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('changeKey' as const), table, a, vals }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), table, a, vals }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('reinsert' as const), table, a, vals }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('updateAll' as const), table, vals }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteOdd' as const), table, vals }) },
    ...(enabled('savepoints') ? [
      { weight: 2, arbitrary: fc.record({ op: fc.constant('savepoint' as const), undo: fc.nat(3) }) },
    ] : []),
  );
}

function ends(): fc.Arbitrary<Extract<StepChoice, { kind: 'txn' }>['end']> {
  const base = ['commit', 'commit', 'commit', 'autocommit', 'rollback'] as const;
  const xa = enabled('xa') ? (['xa', 'xaOnePhase', 'xaRollback'] as const) : [];
  return fc.constantFrom(...base, ...xa);
}

export function ddlArb(): fc.Arbitrary<DdlChoice> {
  const table = fc.nat(9);
  const otherDb = enabled('crossDbDdl') ? fc.boolean() : fc.constant(false);
  const simple = fc.constantFrom('addColumn', 'dropColumn', 'modifyColumn', 'renameColumn', 'renameTable', 'truncate') as fc.Arbitrary<'addColumn'>;
  const creates = ['dropRecreate', 'createTable', ...(enabled('createOrReplace') ? ['createOrReplace'] : []), ...(enabled('createTableSelect') ? ['createSelect'] : [])];
  const rowless = [...(enabled('partitionDdl') ? ['dropPartition', 'truncatePartition', 'exchangePartition'] : []), ...(enabled('renameSwapIn') ? ['swapIn'] : [])];
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ ddl: simple, table, a: fc.nat(1000), otherDb }) },
    { weight: 1, arbitrary: fc.record({ ddl: fc.constantFrom(...creates) as fc.Arbitrary<'createTable'>, table, spec: tableSpecArb(), otherDb }) },
    ...(rowless.length > 0 ? [{ weight: 3, arbitrary: fc.record({ ddl: fc.constantFrom(...rowless) as fc.Arbitrary<'swapIn'>, table, a: fc.nat(1000), n: fc.nat(4), included: fc.boolean(), otherDb }) }] : []),
  );
}

export function stepArb(): fc.Arbitrary<StepChoice> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('txn' as const), stmts: fc.array(stmtArb(), { minLength: 1, maxLength: 6 }), end: ends() }) },
    // Two in nine steps: DDL is where sdl's rowless copies (ALTERs, partitions, swaps) come from.
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('ddl' as const), ddl: ddlArb() }) },
    ...(enabled('onlineResnapshot') ? [{ weight: 1, arbitrary: fc.record({ kind: fc.constant('resnapshot' as const), table: fc.nat(9) }) }] : []),
  );
}

export function faultArb(kinds: readonly FaultKind[]): fc.Arbitrary<FaultChoice> {
  return fc.record({ after: fc.nat(100), kind: fc.constantFrom(...kinds), ms: fc.integer({ min: 0, max: 3000 }) });
}

export function caseArb(opts: { maxSteps: number; faultKinds: readonly FaultKind[]; maxFaults: number }): fc.Arbitrary<CaseChoice> {
  return fc.record({
    tables: fc.array(tableSpecArb(), { minLength: 1, maxLength: 3 }),
    steps: fc.array(stepArb(), { minLength: 1, maxLength: opts.maxSteps }),
    faults: opts.faultKinds.length === 0 ? fc.constant([]) : fc.array(faultArb(opts.faultKinds), { maxLength: opts.maxFaults }),
    // About two cases in five stream their larger transactions in slices; shrinking goes to the defaults.
    sliceBytes: enabled('slicedTransactions') ? fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.integer({ min: 1024, max: 3072 }) }) : fc.constant(undefined),
    chunkRows: fc.integer({ min: 1, max: 4 }),
    // About one case in three takes the initial snapshot; shrinking goes to streaming from the start.
    snapshotAt: enabled('snapshotFirst') ? fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(opts.maxSteps) }) : fc.constant(undefined),
  });
}
