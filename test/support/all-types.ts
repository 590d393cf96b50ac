/**
 * The database `types`: one table with a column of every type in the type table, rows with
 * edge values, a row of NULLs and a row of zero dates (written with sql_mode='').
 */
export const ALL_TYPES_SQL = `CREATE DATABASE types;
  CREATE TABLE types.t (
    id INT PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, i INT, iu INT UNSIGNED, y YEAR,
    b BIGINT, bu BIGINT UNSIGNED, dec1 DECIMAL(10,2), dec2 DECIMAL(65,30),
    f FLOAT, d DOUBLE, c CHAR(3), v VARCHAR(20), tx TEXT, e ENUM('red','green'), s SET('x','y','z'),
    bin BINARY(3), vb VARBINARY(8), bl BLOB, bt BIT(12), da DATE, dt DATETIME, dt6 DATETIME(6), ts TIMESTAMP(3) NULL,
    tm TIME(6), js JSON, l1 VARCHAR(10) CHARACTER SET latin1
  ) CHARSET utf8mb4;
  SET time_zone = '+00:00';
  INSERT INTO types.t VALUES
    (1, -128, 65535, -2147483648, 4294967295, 2024, -9223372036854775808, 18446744073709551615,
     12345678.91, '12345678901234567890123456789012345.123456789012345678901234567891',
     1.5, 2.25, 'abc', 'héllo wörld ✓ 😀', 'long text', 'green', 'x,z',
     X'000102', X'FF', X'DEADBEEF', b'101000000001', '2024-02-29', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123',
     '-838:59:59.000000', '{"a": [1, {"b": null}], "big": 12345678901234567890, "s": "ü"}', 'café'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, 0, 0, 0, 0, 1901, 9223372036854775807, 9223372036854775807, 0, 0, 1, 1, '', '', '', 'red', '',
     X'000000', X'', X'', b'0', '1000-01-01', '9999-12-31 23:59:59', '2024-01-02 03:04:05.000001', '2038-01-19 03:14:07.999',
     '00:00:00', '[[1,2],[3]]', '');
  SET SESSION sql_mode = '';
  INSERT INTO types.t (id, da, dt, dt6) VALUES (4, '0000-00-00', '0000-00-00 00:00:00', '2024-00-00 00:00:00');`;
