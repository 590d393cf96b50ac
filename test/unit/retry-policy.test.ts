import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoWriteConcernError } from 'mongodb';
import { classifyMysqlError } from '../../src/errors.js';
import { RETRY_POLICY, retryDelay } from '../../src/machines/backoff.js';
import { classifyMongoError, mongoErrorInfo, mongoRetryKind } from '../../src/mongo/errors.js';

/** A server reply turned into the driver's own error class, as the driver does on a failed command. */
function serverError(code: number, codeName: string, errorLabels: string[] = []): MongoServerError {
  return new MongoServerError({ ok: 0, code, codeName, errmsg: `${codeName} (test)`, errorLabels });
}

describe('retry pacing by kind of failure', () => {
  it('elections, conflicts and throttling are told apart from the network', () => {
    assert.equal(mongoRetryKind(serverError(189, 'PrimarySteppedDown')), 'election');
    assert.equal(mongoRetryKind(serverError(10107, 'NotWritablePrimary')), 'election');
    assert.equal(mongoRetryKind(serverError(11602, 'InterruptedDueToReplStateChange')), 'election');
    assert.equal(mongoRetryKind(serverError(112, 'WriteConflict', ['TransientTransactionError'])), 'conflict');
    assert.equal(mongoRetryKind(serverError(251, 'NoSuchTransaction', ['TransientTransactionError'])), 'conflict');
    assert.equal(mongoRetryKind(serverError(462, 'IngressRequestRateLimitExceeded', ['SystemOverloadedError', 'RetryableError'])), 'throttled');
    assert.equal(mongoRetryKind(new MongoNetworkError('connection reset')), 'network');
    assert.equal(mongoRetryKind(new MongoServerSelectionError('Server selection timed out', { type: 'Unknown', servers: new Map(), stale: false, compatible: true, heartbeatFrequencyMS: 10_000, localThresholdMS: 15, setName: null, maxElectionId: null, maxSetVersion: null, commonWireVersion: 0, logicalSessionTimeoutMinutes: null } as never)), 'network');
    // A write concern failure during a step-down, and an outage wrapped by a bulk write.
    assert.equal(mongoRetryKind(new MongoWriteConcernError({ writeConcernError: { code: 11602, errmsg: 'interrupted', codeName: 'InterruptedDueToReplStateChange' } } as never)), 'election');
    assert.equal(mongoRetryKind(new MongoBulkWriteError(new MongoNetworkError('read ECONNRESET'), {} as never)), 'network');
  });

  it("FerretDB's answer to an operation cut short by its shutdown is retried like the network", () => {
    const canceled = new MongoServerError({ ok: 0, code: 1, errmsg: '[msg_delete.go:95 handler.(*Handler).MsgDelete] [query_iterator.go:79 sqlite.(*queryIterator).Next] context canceled after delay' });
    assert.equal(classifyMongoError(canceled), 'transient');
    assert.equal(mongoRetryKind(canceled), 'network');
    assert.equal(classifyMongoError(new MongoServerError({ ok: 0, code: 1, errmsg: 'some other internal error' })), 'permanent', 'other internal errors still stop sdl');
  });

  it('MySQL connection failures are network', () => {
    assert.equal(classifyMysqlError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).retry, 'network');
  });

  it('driver codes reach the logs with their own text', () => {
    // Alert rules and docs/troubleshooting.md match on these strings.
    const denied = classifyMysqlError(Object.assign(new Error("Access denied for user 'repl'"), { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 }));
    assert.deepEqual([denied.code, denied.errorClass], ['ER_ACCESS_DENIED_ERROR', 'auth']);
    const lockWait = classifyMysqlError(Object.assign(new Error('Lock wait timeout exceeded'), { errno: 1205 }));
    assert.deepEqual([lockWait.code, lockWait.errorClass], ['MYSQL_1205', 'transient']);
    const purged = classifyMysqlError(Object.assign(new Error('Could not find first log file name in binary log index file'), { errno: 1236 }));
    assert.deepEqual([purged.code, purged.errorClass], ['BINLOG_PURGED', 'permanent']);
    assert.equal(classifyMysqlError(new Error('odd')).code, 'UNKNOWN');
    const stepDown = mongoErrorInfo(serverError(189, 'PrimarySteppedDown'));
    assert.deepEqual([stepDown.code, stepDown.errorClass, stepDown.retry, stepDown.message], ['MONGO_189', 'transient', 'election', 'MongoDB: PrimarySteppedDown (test)']);
    const invalid = mongoErrorInfo(serverError(121, 'DocumentValidationFailure'));
    assert.deepEqual([invalid.code, invalid.errorClass, invalid.retry], ['MONGO_121', 'permanent', undefined]);
    assert.equal(mongoErrorInfo(new MongoNetworkError('connection reset')).code, 'MONGO_ERROR');
    assert.equal(mongoErrorInfo(new TypeError('x is not a function')).code, 'MONGO_TypeError');
  });

  it('each kind waits within its own ceiling, full jitter, capped', () => {
    for (const [kind, { baseMs, capMs }] of Object.entries(RETRY_POLICY)) {
      const error = { retry: kind as keyof typeof RETRY_POLICY };
      assert.equal(retryDelay(0, error, () => 0.999999), Math.floor(baseMs * 0.999999), kind);
      assert.equal(retryDelay(50, error, () => 0.999999), Math.floor(capMs * 0.999999), kind);
      assert.equal(retryDelay(5, error, () => 0), 0, kind);
    }
    // A conflict is retried far sooner than a network loss; an unknown kind is paced like the network.
    assert.ok(RETRY_POLICY.conflict.capMs < RETRY_POLICY.election.capMs && RETRY_POLICY.election.capMs < RETRY_POLICY.network.capMs);
    assert.equal(retryDelay(3, undefined, () => 0.5), retryDelay(3, { retry: 'other' }, () => 0.5));
  });
});
