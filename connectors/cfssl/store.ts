/**
 * The connector's own records: which certificate each request id got. cfssl has no request ids,
 * so this small SQLite file in `${dataDir}/connectors/<name>/` is what makes issue() idempotent and
 * lets status() find a certificate after a lost response. Revocation state is never kept here:
 * cfssl's certdb is the one source for it.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';

export const STORE_FILE = 'cfssl.sqlite';

export interface IssuedRecord {
  requestId: string;
  /** normalizeSerial() form. */
  serial: string;
  pem: string;
  /** The chain returned with it (issuing CA first), so status() needs no call to cfssl. */
  chainPem: string[];
  issuedAt: Date;
}

interface Row {
  request_id: string;
  serial: string;
  pem: string;
  chain: string;
  issued_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS issued (
  request_id TEXT PRIMARY KEY,
  serial     TEXT NOT NULL,
  pem        TEXT NOT NULL,
  chain      TEXT NOT NULL,
  issued_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS issued_serial ON issued (serial);
`;

function toRecord(row: Row): IssuedRecord {
  const chain: unknown = JSON.parse(row.chain);
  const chainPem = Array.isArray(chain) ? chain.filter((c): c is string => typeof c === 'string') : [];
  return { requestId: row.request_id, serial: row.serial, pem: row.pem, chainPem, issuedAt: new Date(row.issued_at) };
}

export class CfsslStore {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<[string, string, string, string, number]>;
  private readonly byRequestStmt: Database.Statement<[string], Row>;
  private readonly bySerialStmt: Database.Statement<[string], Row>;
  private open = true;

  /** Opens (creating if needed) the store in `dir`, which must exist. */
  constructor(dir: string) {
    this.db = new Database(join(dir, STORE_FILE));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across process crashes
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.insertStmt = this.db.prepare('INSERT INTO issued (request_id, serial, pem, chain, issued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING');
    this.byRequestStmt = this.db.prepare('SELECT * FROM issued WHERE request_id = ?');
    this.bySerialStmt = this.db.prepare('SELECT * FROM issued WHERE serial = ? ORDER BY issued_at LIMIT 1');
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Records a certificate unless the request id has one already, and returns the one that counts. */
  insert(rec: IssuedRecord): IssuedRecord {
    this.insertStmt.run(rec.requestId, rec.serial, rec.pem, JSON.stringify(rec.chainPem), rec.issuedAt.getTime());
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
