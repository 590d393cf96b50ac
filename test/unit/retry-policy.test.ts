import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoWriteConcernError } from 'mongodb';
import { classifyMysqlError } from '../../src/errors.js';
import { RETRY_POLICY, retryDelay } from '../../src/machines/backoff.js';
import { classifyMongoError, mongoRetryKind } from '../../src/mongo/errors.js';

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
