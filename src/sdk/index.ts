export * from './connector.js';
export * from './errors.js';
export { z } from 'zod';
