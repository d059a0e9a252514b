/** Driver errors the store turns into its own (`ConflictError`); everything else passes through. */

const UNIQUE_VIOLATION = new Set([
  '23505', // PostgreSQL unique_violation
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
]);

export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof Error) || !('code' in err)) return false;
  return typeof err.code === 'string' && UNIQUE_VIOLATION.has(err.code);
}
