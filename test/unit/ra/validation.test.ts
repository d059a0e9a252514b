/**
 * ValidationRunner (src/ra/validation.ts): validations left in `processing` by a process that
 * stopped are found and run again (resumeStale), without a new POST from the client; of several
 * instances one takes each; and an outcome never overwrites a challenge decided meanwhile.
 * Records live in a real SQLite store; the validator is a fake that counts and answers.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS, SECOND_MS, TestClock, addMs } from '../../../src/lib/clock.js';
import { problem } from '../../../src/protocol/problem.js';
import type { ChallengeType } from '../../../src/protocol/types.js';
import { ValidationRunner, type ValidationRunnerOptions } from '../../../src/ra/validation.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { AccountRecord, AuthzRecord, ChallengeRecord, OrderRecord, Store } from '../../../src/storage/store.js';
import type { CaaCheckInput } from '../../../src/va/caa.js';
import type { ChallengeValidator, ValidationInput, ValidationResult } from '../../../src/va/validator.js';
import { memoryLogger } from '../../helpers/memory-logger.js';
import { T0, accountRecord, orderRecord } from '../../helpers/records.js';

const TIMEOUT_MS = 10 * SECOND_MS;
const RESUME_AFTER_MS = 2 * TIMEOUT_MS;

/** An http-01 validator whose answer the test sets; it records what it was asked. */
class FakeHttp01 implements ChallengeValidator {
  readonly type = 'http-01' as const;
  asked: ValidationInput[] = [];
  answer: () => Promise<ValidationResult> = () => Promise.resolve({ status: 'valid', records: [{ url: 'http://fake/' }] });
  accepts(): boolean {
    return true;
  }
  validate(input: ValidationInput): Promise<ValidationResult> {
    this.asked.push(input);
    return this.answer();
  }
}

describe('ValidationRunner: validations left in processing are resumed', () => {
  let store: Store;
  let clock: TestClock;
  let http01: FakeHttp01;
  let caaAsked: CaaCheckInput[];
  let log: ReturnType<typeof memoryLogger>;
  let account: AccountRecord;
  let order: OrderRecord;
  let authz: AuthzRecord;
  let challenge: ChallengeRecord;

  function runner(over: Partial<ValidationRunnerOptions> = {}): ValidationRunner {
    return new ValidationRunner(store, new Map<ChallengeType, ChallengeValidator>([['http-01', http01]]), clock, log, {
      concurrency: 4,
      timeoutMs: TIMEOUT_MS,
      caaIdentities: () => ['ca.example.test'],
      checkCaa: (input) => {
        caaAsked.push(input);
        return Promise.resolve({ status: 'allowed', records: [] });
      },
      validAuthzMs: () => 30 * DAY_MS,
      resumeAfterMs: RESUME_AFTER_MS,
      resumeIntervalMs: 60 * SECOND_MS,
      accountUri: (profile, id) => `https://ca.example.test/acme/${profile}/acct/${id}`,
      ...over,
    });
  }

  /** What a process that died while validating leaves behind: the challenge in processing since `since`. */
  async function leftInProcessing(since: Date): Promise<void> {
    challenge = { ...challenge, status: 'processing', updatedAt: since };
    await store.transaction((tx) => tx.updateChallenge(challenge));
  }

  beforeEach(async () => {
    store = await createSqlStore({ driver: 'sqlite', path: ':memory:' });
    clock = new TestClock(addMs(T0, DAY_MS));
    http01 = new FakeHttp01();
    caaAsked = [];
    log = memoryLogger();
    account = accountRecord({ profile: 'web' });
    const created = orderRecord(account, ['www.example.test']);
    order = created.order;
    authz = created.authzs[0]!;
    challenge = authz.challenges[0]!;
    await store.transaction(async (tx) => {
      await tx.insertAccount(account);
      await tx.insertOrder(created.order, created.authzs);
    });
    return () => store.close();
  });

  it('validates a challenge in processing for longer than resumeAfterMs, with the account\'s key and URL', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
    const r = runner();
    expect(await r.resumeStale()).toBe(1);
    await r.drain();

    expect(http01.asked).toEqual([expect.objectContaining({ token: challenge.token, keyAuthorization: `${challenge.token}.${account.jwkThumbprint}`, identifier: authz.identifier })]);
    expect(caaAsked).toEqual([expect.objectContaining({ accountUri: `https://ca.example.test/acme/web/acct/${account.id}`, validationMethod: 'http-01' })]);
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'resuming a validation left in processing (the process validating it stopped)' }));
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'valid', validatedAt: clock.now() });
    expect(await store.getAuthz(authz.id)).toMatchObject({ status: 'valid' });
    expect(await store.getOrder(order.id)).toMatchObject({ status: 'ready' });
  });

  it('records a failed resumed validation as invalid, with its problem', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS));
    http01.answer = () => Promise.resolve({ status: 'invalid', problem: problem.unauthorized('the key authorization did not match'), records: [] });
    const r = runner();
    expect(await r.resumeStale()).toBe(1);
    await r.drain();
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'invalid', error: { type: 'urn:ietf:params:acme:error:unauthorized' } });
    expect(await store.getOrder(order.id)).toMatchObject({ status: 'invalid' });
  });

  it('leaves alone a validation started less than resumeAfterMs ago (it may still run elsewhere)', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS + 1));
    expect(await runner().resumeStale()).toBe(0);
    expect(http01.asked).toEqual([]);
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'processing' });
  });

  it('does not resume the challenge of an authorization that expired meanwhile', async () => {
    await leftInProcessing(addMs(T0, -DAY_MS));
    clock.set(addMs(authz.expires, 1));
    expect(await runner().resumeStale()).toBe(0);
    expect(http01.asked).toEqual([]);
  });

  it('lets one of two instances resuming at once take the challenge, and validates it once', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
    const [a, b] = [runner(), runner()];
    const queued = await Promise.all([a.resumeStale(), b.resumeStale()]);
    await Promise.all([a.drain(), b.drain()]);
    expect(queued.sort()).toEqual([0, 1]);
    expect(http01.asked).toHaveLength(1);
    // Taken: its updatedAt moved to now, so it is not stale again before another resumeAfterMs.
    expect(await runner().resumeStale()).toBe(0);
  });

  it('does not queue a second validation of a challenge already queued or running here', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
    let release: () => void = () => undefined;
    const held = new Promise<ValidationResult>((resolve) => (release = () => resolve({ status: 'valid', records: [] })));
    http01.answer = () => held;
    const r = runner();
    expect(await r.resumeStale()).toBe(1);
    clock.advance(RESUME_AFTER_MS + 1); // stale again while this instance still has it
    expect(await r.resumeStale()).toBe(0);
    release();
    await r.drain();
    expect(http01.asked).toHaveLength(1);
  });

  it('never overwrites a challenge decided while the resumed validation ran', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
    http01.answer = async () => {
      // Meanwhile the slow original validation (another instance) records its outcome: valid.
      const current = await store.getChallenge(challenge.id);
      await store.transaction((tx) => tx.updateChallenge({ ...current!, status: 'valid', validatedAt: T0 }));
      return { status: 'invalid', problem: problem.connection('connection refused'), records: [] };
    };
    const r = runner();
    expect(await r.resumeStale()).toBe(1);
    await r.drain();
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'valid', validatedAt: T0, error: null });
    expect(log.lines).toContainEqual(expect.objectContaining({ msg: 'validation outcome not recorded: the challenge was decided meanwhile' }));
  });

  it('looks once at start(), and stop() waits for the validation it queued', async () => {
    await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
    const r = runner();
    r.start();
    await r.stop();
    expect(http01.asked).toHaveLength(1);
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'valid' });
  });

  it('looks again every resumeIntervalMs while it runs', async () => {
    const r = runner({ resumeIntervalMs: 20 });
    r.start();
    try {
      await leftInProcessing(addMs(clock.now(), -RESUME_AFTER_MS - 1));
      for (let i = 0; i < 200 && (await store.getChallenge(challenge.id))?.status === 'processing'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      await r.stop();
    }
    expect(await store.getChallenge(challenge.id)).toMatchObject({ status: 'valid' });
    expect(http01.asked).toHaveLength(1);
  });
});
