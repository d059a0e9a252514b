/**
 * Shared pieces of the RA unit tests (not a test file itself): a ProfileRuntime built from the real
 * profile schema, a connector that does nothing unless a test gives it capabilities, and catching
 * the problem a decision throws.
 */
import type { z } from 'zod';
import { ProfileSchema } from '../../../src/config/schema.js';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import type { ProfileRuntime } from '../../../src/ra/profiles.js';
import type { Connector } from '../../../src/sdk/connector.js';

/** A connector whose issuance methods must not be reached in RA tests. */
export function inertConnector<T extends object>(capabilities: T = {} as T): Connector & T {
  const never = () => Promise.reject(new Error('not used by this test'));
  return { type: 'fake', issue: never, status: never, revoke: never, close: () => Promise.resolve(), ...capabilities };
}

/** An endpoint named `name` with the profile config `input` (schema defaults for the rest). */
export function profileRuntime(input: z.input<typeof ProfileSchema> = {}, connector: Connector = inertConnector(), name = 'web'): ProfileRuntime {
  const config = ProfileSchema.parse(input);
  return { name, acmeProfile: name, config, binding: name, bindingEnabled: true, connectorName: 'backend', connector, template: config.template };
}

/** The problem `fn` throws (sync or async); fails the test when it throws something else or nothing. */
export async function problemOf(fn: () => unknown): Promise<AcmeProblem> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected a problem, nothing was thrown');
}
