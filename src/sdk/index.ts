export * from './connector.js';
export * from './errors.js';
export { z } from 'zod';
export { readCsr, keyTypeOf, CsrError, type ReadCsr } from './csr.js';
