/**
 * The embedded CA's own records: what it issued (by request id and serial) and what it revoked.
 * One SQLite file in the connector directory, WAL, prepared statements; every call is synchronous
 * and short, so it never holds the event loop for long even at hundreds of issues per second.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { SdkRevocationReason } from '../../src/sdk/index.js';

export const STORE_FILE = 'embedded.sqlite';

export interface IssuedRecord {
  requestId: string;
  /** normalizeSerial() form. */
  serial: string;
  pem: string;
  notAfter: Date;
  revokedAt?: Date;
  reason?: SdkRevocationReason;
}

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  reason: SdkRevocationReason;
}

interface Row {
  request_id: string;
  serial: string;
  pem: string;
  not_after: number;
  revoked_at: number | null;
  reason: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS issued (
  request_id TEXT PRIMARY KEY,
  serial     TEXT NOT NULL UNIQUE,
  pem        TEXT NOT NULL,
  not_after  INTEGER NOT NULL,
  revoked_at INTEGER,
  reason     INTEGER
);
CREATE INDEX IF NOT EXISTS issued_revoked ON issued (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('crl_number', 0);
`;

function toRecord(row: Row): IssuedRecord {
  const rec: IssuedRecord = { requestId: row.request_id, serial: row.serial, pem: row.pem, notAfter: new Date(row.not_after) };
  if (row.revoked_at !== null) {
    rec.revokedAt = new Date(row.revoked_at);
    rec.reason = (row.reason ?? 0) as SdkRevocationReason;
  }
  return rec;
}

/** The unique index on serial refused a row: the caller draws a new serial and signs again. */
export class SerialTakenError extends Error {
  override readonly name = 'SerialTakenError';
}

export class EmbeddedStore {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<[string, string, string, number]>;
  private readonly byRequestStmt: Database.Statement<[string], Row>;
  private readonly bySerialStmt: Database.Statement<[string], Row>;
  private readonly revokeStmt: Database.Statement<[number, number, string]>;
  private readonly revocationStateStmt: Database.Statement<[], { count: number; last: number | null }>;
  private readonly revokedStmt: Database.Statement<[number], { serial: string; revoked_at: number; reason: number | null }>;
  private readonly crlNumberStmt: Database.Statement<[], { value: number }>;
  private open = true;

  /** Opens (creating if needed) the store in `dir`, which must exist. */
  constructor(dir: string) {
    this.db = new Database(join(dir, STORE_FILE));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across process crashes
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.insertStmt = this.db.prepare(
      'INSERT INTO issued (request_id, serial, pem, not_after) VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING',
    );
    this.byRequestStmt = this.db.prepare('SELECT * FROM issued WHERE request_id = ?');
    this.bySerialStmt = this.db.prepare('SELECT * FROM issued WHERE serial = ?');
    this.revokeStmt = this.db.prepare('UPDATE issued SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL');
    this.revocationStateStmt = this.db.prepare(
      'SELECT COUNT(*) AS count, MAX(revoked_at) AS last FROM issued WHERE revoked_at IS NOT NULL',
    );
    this.revokedStmt = this.db.prepare(
      'SELECT serial, revoked_at, reason FROM issued WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, serial',
    );
    this.crlNumberStmt = this.db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'crl_number' RETURNING value");
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Records a certificate unless the request id already has one, and returns the one that counts:
   * the new record, or the earlier one (idempotency, also when two calls race).
   */
  insertIssued(rec: { requestId: string; serial: string; pem: string; notAfter: Date }): IssuedRecord {
    try {
      this.insertStmt.run(rec.requestId, rec.serial, rec.pem, rec.notAfter.getTime());
    } catch (e) {
      if (e instanceof Database.SqliteError && e.code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new SerialTakenError(`serial ${rec.serial} is already used`, { cause: e });
      }
      throw e;
    }
    const row = this.byRequestStmt.get(rec.requestId);
    if (row === undefined) throw new Error(`issued record for ${rec.requestId} vanished after insert`);
    return toRecord(row);
  }

  byRequestId(requestId: string): IssuedRecord | undefined {
    const row = this.byRequestStmt.get(requestId);
    return row === undefined ? undefined : toRecord(row);
  }

  bySerial(serial: string): IssuedRecord | undefined {
    const row = this.bySerialStmt.get(serial);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Marks a certificate revoked once; says why not when it cannot. */
  revoke(serial: string, at: Date, reason: SdkRevocationReason): 'revoked' | 'already-revoked' | 'not-found' {
    if (this.revokeStmt.run(at.getTime(), reason, serial).changes === 1) return 'revoked';
    return this.bySerialStmt.get(serial) === undefined ? 'not-found' : 'already-revoked';
  }

  /** Changes whenever a revocation is recorded (by this process or another on the same file). */
  revocationVersion(): string {
    const s = this.revocationStateStmt.get();
    return `${s?.count ?? 0}:${s?.last ?? ''}`;
  }

  /** Revoked certificates that expire after `expiringAfter`, for the CRL. */
  revokedExpiringAfter(expiringAfter: Date): RevokedEntry[] {
    return this.revokedStmt.all(expiringAfter.getTime()).map((r) => ({
      serial: r.serial,
      revokedAt: new Date(r.revoked_at),
      reason: (r.reason ?? 0) as SdkRevocationReason,
    }));
  }

  /** RFC 5280 §5.2.3: "monotonically increasing"; persisted so a restart never reuses a number. */
  nextCrlNumber(): bigint {
    const row = this.crlNumberStmt.get();
    if (row === undefined) throw new Error('meta row crl_number is missing');
    return BigInt(row.value);
  }

  /** Throws when the database cannot answer. */
  ping(): void {
    this.db.prepare('SELECT 1').get();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.db.close();
  }
}
