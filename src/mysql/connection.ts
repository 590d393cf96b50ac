import mysql from 'mysql2/promise';
import type { ConnectionOptions } from 'mysql2';

/**
 * Connection options that keep every value exact: temporal values as text (microseconds and
 * zero dates survive), TIMESTAMP rendered in UTC, big integers, decimals and JSON as strings.
 */
export function exactOptions(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    charset: 'utf8mb4',
    dateStrings: true,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    // Parsed JSON has already rounded integers beyond 2^53.
    jsonStrings: true,
    connectTimeout: 10_000,
  };
}

export async function connectExact(url: string, database?: string): Promise<mysql.Connection> {
  const opts = exactOptions(url);
  if (database !== undefined) opts.database = database;
  return mysql.createConnection(opts);
}
