/**
 * Read-only access to cfssl's own certificate database (SQLite; the `data_source` of its
 * -db-config). `cfssl serve` writes a row per signed certificate and updates it on revoke; the
 * connector only reads it, for revocation status, for already-revoked (cfssl's revoke answers
 * success twice and overwrites the first reason, see README.md) and for OCSP answers.
 * Column names: cfssl certdb/sql/database_accessor.go; the schema is made by hand (NOTES.md quirk 1).
 */
import Database from 'better-sqlite3';
import type { CertRow } from './mapping.js';

interface Row {
  serial_number: unknown;
  authority_key_identifier: unknown;
  ca_label: unknown;
  status: unknown;
  reason: unknown;
  expiry: unknown;
  revoked_at: unknown;
  pem: unknown;
}

/** Columns are declared `blob`; Go's driver writes text, but bytes are read as UTF-8 all the same. */
const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v));

function toRow(r: Row): CertRow {
  const reason = typeof r.reason === 'number' ? r.reason : Number(text(r.reason) || '0');
  return {
    serial: text(r.serial_number),
    aki: text(r.authority_key_identifier).toLowerCase(),
    caLabel: text(r.ca_label),
    status: text(r.status),
    reason: Number.isInteger(reason) ? reason : 0,
    expiry: text(r.expiry),
    revokedAt: text(r.revoked_at),
    pem: text(r.pem),
  };
}

export class CertDb {
  private db?: Database.Database;
  private bySerialStmt?: Database.Statement<[string], Row>;

  constructor(private readonly path: string) {}

  /** Opened on first use, so the gateway starts while cfssl's volume is not mounted yet; throws when it cannot open. */
  private statement(): Database.Statement<[string], Row> {
    if (this.bySerialStmt !== undefined) return this.bySerialStmt;
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000'); // cfssl holds the write lock for a moment on every sign
      this.bySerialStmt = db.prepare(
        'SELECT serial_number, authority_key_identifier, ca_label, status, reason, expiry, revoked_at, pem FROM certificates WHERE serial_number = ?',
      );
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
    return this.bySerialStmt;
  }

  /** Every row for a decimal serial (one per AKI; this build writes the AKI empty). */
  bySerial(decimal: string): CertRow[] {
    return this.statement().all(decimal).map(toRow);
  }

  /** Throws when the database cannot be opened or read. */
  ping(): void {
    this.statement();
    this.db?.prepare('SELECT COUNT(*) FROM certificates WHERE 0').get();
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.bySerialStmt = undefined;
  }
}
