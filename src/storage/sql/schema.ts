/**
 * Row types of the tables created by `storage/migrations/`, as both drivers return them (the
 * PostgreSQL pool is set up to hand back bigint as number and jsonb as text, see `postgres.ts`).
 * Times are epoch milliseconds, JSON is text, booleans are 0/1.
 */
export type EpochMs = number;
export type JsonText = string;
/** Written as a Buffer view over the record's bytes; read back as Buffer. */
export type Blob = Uint8Array;

export interface AccountsTable {
  id: string;
  profile: string;
  status: string;
  jwk: JsonText;
  jwk_thumbprint: string;
  contact: JsonText;
  terms_agreed_at: EpochMs | null;
  terms_agreed_version: string | null;
  eab_kid: string | null;
  registration_id: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface OrdersTable {
  id: string;
  account_id: string;
  profile: string;
  status: string;
  expires: EpochMs;
  identifiers: JsonText;
  not_before: EpochMs | null;
  not_after: EpochMs | null;
  authz_ids: JsonText;
  error: JsonText | null;
  certificate_id: string | null;
  csr: Blob | null;
  ticket: string | null;
  next_check_at: EpochMs | null;
  issuance_attempts: number;
  lease_owner: string | null;
  lease_until: EpochMs | null;
  policy: JsonText | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface AuthorizationsTable {
  id: string;
  account_id: string;
  order_id: string;
  profile: string;
  identifier_type: string;
  identifier_value: string;
  wildcard: number;
  status: string;
  expires: EpochMs;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface ChallengesTable {
  id: string;
  authz_id: string;
  /** Index in the authorization's `challenges` array, so the order survives a round trip. */
  position: number;
  type: string;
  token: string;
  status: string;
  validated_at: EpochMs | null;
  error: JsonText | null;
  validation_record: JsonText | null;
  updated_at: EpochMs;
}

export interface CertificatesTable {
  id: string;
  order_id: string;
  account_id: string;
  profile: string;
  serial: string;
  issuer: string;
  chain_pem: string;
  identifiers: JsonText;
  not_before: EpochMs;
  not_after: EpochMs;
  spki_sha256: string;
  revoked_at: EpochMs | null;
  revocation_reason: number | null;
  created_at: EpochMs;
  authority_key_id: string | null;
  replaced_by: string | null;
}

export interface EabKeysTable {
  kid: string;
  profile: string;
  hmac_key: Blob;
  registration_id: string | null;
  max_bindings: number;
  created_at: EpochMs;
  revoked_at: EpochMs | null;
}

export interface Database {
  accounts: AccountsTable;
  orders: OrdersTable;
  authorizations: AuthorizationsTable;
  challenges: ChallengesTable;
  certificates: CertificatesTable;
  used_nonces: { nonce: string; expires_at: EpochMs };
  secrets: { name: string; value: Uint8Array };
  job_leases: { name: string; lease_owner: string; lease_until: EpochMs };
  eab_keys: EabKeysTable;
}
