/**
 * The live binding between an ACME account and its legacy registration (src/ra/registrations.ts,
 * issue #4): a disabled registration stops the account, its allowed names limit what it may order,
 * and states are cached for the profile's registrationCacheTtl on an injected clock.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { SECOND_MS, TestClock } from '../../../src/lib/clock.js';
import type { Identifier } from '../../../src/protocol/types.js';
import { Registrations, nameAllowed } from '../../../src/ra/registrations.js';
import type { AccountSummary, RegistrationRef, RegistrationState, RegistrationSync } from '../../../src/sdk/connector.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import { accountRecord } from '../../helpers/records.js';
import { memoryLogger } from '../../helpers/memory-logger.js';
import { inertConnector, problemOf, profileRuntime } from './helpers.js';

const dns = (value: string): Identifier => ({ type: 'dns', value });
const ip = (value: string): Identifier => ({ type: 'ip', value });

/** A backend keeping registrations: the test sets their states and counts the questions. */
class FakeRegistrations implements RegistrationSync {
  readonly states = new Map<string, RegistrationState>();
  /** Thrown by the next calls instead of answering, while set. */
  failure: unknown;
  asked: string[] = [];
  ensured: AccountSummary[] = [];

  ensureRegistration(account: AccountSummary): Promise<RegistrationRef> {
    this.ensured.push(account);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return Promise.resolve({ id: `reg-${account.accountId}` });
  }

  registration(ref: RegistrationRef): Promise<RegistrationState> {
    this.asked.push(ref.id);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const state = this.states.get(ref.id);
    return state ? Promise.resolve(state) : Promise.reject(new ConnectorError('not-found', `no registration ${ref.id}`));
  }
}

/** A connector whose RegistrationSync answers come from `backend`. */
const connectorOf = (backend: FakeRegistrations) =>
  inertConnector<RegistrationSync>({ ensureRegistration: (a) => backend.ensureRegistration(a), registration: (ref) => backend.registration(ref) });

describe('nameAllowed: a registration\'s allowed names', () => {
  it('lets a plain entry cover exactly that name', () => {
    expect([nameAllowed(dns('example.test'), ['example.test']), nameAllowed(dns('www.example.test'), ['example.test'])]).toEqual([true, false]);
  });

  it('lets a "*." entry cover names below the domain at any depth', () => {
    expect([nameAllowed(dns('a.example.test'), ['*.example.test']), nameAllowed(dns('a.b.example.test'), ['*.example.test'])]).toEqual([true, true]);
  });

  it('does not let a "*." entry cover the domain itself', () => {
    expect(nameAllowed(dns('example.test'), ['*.example.test'])).toBe(false);
  });

  it('lets a "*." entry cover wildcards at and below the domain', () => {
    expect([nameAllowed(dns('*.example.test'), ['*.example.test']), nameAllowed(dns('*.b.example.test'), ['*.example.test'])]).toEqual([true, true]);
  });

  it('does not let a plain entry cover a wildcard of it', () => {
    expect(nameAllowed(dns('*.example.test'), ['example.test'])).toBe(false);
  });

  it('does not match a name that merely ends with the same letters', () => {
    expect(nameAllowed(dns('badexample.test'), ['*.example.test'])).toBe(false);
  });

  it('reads entries without regard to case, spaces or a trailing dot', () => {
    expect(nameAllowed(dns('www.example.test'), [' WWW.Example.TEST. '])).toBe(true);
  });

  it('matches IP addresses exactly, never by a "*." entry', () => {
    expect([nameAllowed(ip('192.0.2.1'), ['192.0.2.1']), nameAllowed(ip('192.0.2.10'), ['192.0.2.1']), nameAllowed(ip('192.0.2.1'), ['*.2.1'])]).toEqual([true, false, false]);
  });
});

describe('Registrations', () => {
  let clock: TestClock;
  let backend: FakeRegistrations;
  let registrations: Registrations;
  const account = accountRecord({ registrationId: 'reg-1' });
  const profile = (ttl: string | number = '60s') => profileRuntime({ registrationCacheTtl: ttl }, connectorOf(backend));

  beforeEach(() => {
    clock = new TestClock();
    backend = new FakeRegistrations();
    backend.states.set('reg-1', { enabled: true });
    registrations = new Registrations({ clock, log: memoryLogger() });
  });

  describe('enabled and disabled registrations', () => {
    it('lets an account whose registration is enabled through', async () => {
      await expect(registrations.checkAccount(profile(), account)).resolves.toBeUndefined();
    });

    it('refuses an account whose registration is disabled with unauthorized (403) naming the registration', async () => {
      backend.states.set('reg-1', { enabled: false });
      const p = await problemOf(() => registrations.checkAccount(profile(), account));
      expect(p).toMatchObject({ type: 'unauthorized', status: 403, detail: 'the registration "reg-1" behind this account is disabled in the certificate manager' });
    });

    it('treats a registration the backend no longer knows as disabled', async () => {
      backend.states.delete('reg-1');
      expect((await problemOf(() => registrations.checkAccount(profile(), account))).type).toBe('unauthorized');
    });

    it('treats a registration the backend refuses to show as disabled', async () => {
      backend.failure = new ConnectorError('unauthorized', 'access denied');
      expect((await problemOf(() => registrations.checkAccount(profile(), account))).type).toBe('unauthorized');
    });

    it('asks nothing for an account without a registration', async () => {
      await registrations.checkAccount(profile(), accountRecord({ registrationId: null }));
      expect(backend.asked).toEqual([]);
    });

    it('asks nothing when the connector keeps no registrations', async () => {
      const plain = profileRuntime({}, inertConnector());
      await expect(registrations.state(plain, 'reg-1')).resolves.toBeUndefined();
    });
  });

  describe('the cache (registrationCacheTtl)', () => {
    it('asks the backend once within the TTL', async () => {
      await registrations.checkAccount(profile('60s'), account);
      clock.advance(59 * SECOND_MS);
      await registrations.checkAccount(profile('60s'), account);
      expect(backend.asked).toEqual(['reg-1']);
    });

    it('keeps refusing a re-enabled registration until the TTL has passed, then lets it through', async () => {
      backend.states.set('reg-1', { enabled: false });
      const p = profile('60s');
      await problemOf(() => registrations.checkAccount(p, account));
      backend.states.set('reg-1', { enabled: true });
      clock.advance(59 * SECOND_MS);
      expect((await problemOf(() => registrations.checkAccount(p, account))).type).toBe('unauthorized');
      clock.advance(SECOND_MS);
      await expect(registrations.checkAccount(p, account)).resolves.toBeUndefined();
      expect(backend.asked).toHaveLength(2);
    });

    it('sees a registration disabled by an officer once the TTL has passed', async () => {
      const p = profile('60s');
      await registrations.checkAccount(p, account);
      backend.states.set('reg-1', { enabled: false });
      clock.advance(60 * SECOND_MS);
      expect((await problemOf(() => registrations.checkAccount(p, account))).type).toBe('unauthorized');
    });

    it('asks the backend on every request when the TTL is 0', async () => {
      const p = profile(0);
      await registrations.checkAccount(p, account);
      await registrations.checkAccount(p, account);
      await registrations.checkAccount(p, account);
      expect(backend.asked).toEqual(['reg-1', 'reg-1', 'reg-1']);
    });

    it('asks again after invalidate()', async () => {
      const p = profile('60s');
      await registrations.checkAccount(p, account);
      registrations.invalidate();
      await registrations.checkAccount(p, account);
      expect(backend.asked).toHaveLength(2);
    });

    it('keeps the states of two connectors apart', async () => {
      const other = new FakeRegistrations();
      other.states.set('reg-1', { enabled: false });
      const second = { ...profileRuntime({}, connectorOf(other), 'partners'), connectorName: 'other-backend' };
      await registrations.checkAccount(profile(), account);
      expect((await problemOf(() => registrations.checkAccount(second, account))).type).toBe('unauthorized');
    });
  });

  describe('an unreachable backend', () => {
    it('answers 503 serverInternal with Retry-After when the backend is unavailable', async () => {
      backend.failure = new ConnectorError('unavailable', 'connection refused', { retryAfterSeconds: 30 });
      const p = await problemOf(() => registrations.checkAccount(profile(), account));
      expect(p).toMatchObject({ type: 'serverInternal', status: 503, headers: { 'Retry-After': '30' } });
      expect(p.detail).toBe('the certificate backend is not answering; try again later');
    });

    it('answers 503 when the backend times out', async () => {
      backend.failure = new ConnectorError('timeout', 'no answer in 15 s');
      expect(await problemOf(() => registrations.checkAccount(profile(), account))).toMatchObject({ status: 503, headers: { 'Retry-After': '10' } });
    });

    it('caches no answer from an outage and asks again next time', async () => {
      backend.failure = new ConnectorError('unavailable', 'connection refused');
      const p = profile('60s');
      await problemOf(() => registrations.checkAccount(p, account));
      backend.failure = undefined;
      await expect(registrations.checkAccount(p, account)).resolves.toBeUndefined();
      expect(backend.asked).toHaveLength(2);
    });

    it('lets an unexpected error through as it is', async () => {
      backend.failure = new TypeError('bug in the connector');
      await expect(registrations.checkAccount(profile(), account)).rejects.toThrow(TypeError);
    });
  });

  describe('allowed names', () => {
    it('lets an order through whose names the registration may order', async () => {
      backend.states.set('reg-1', { enabled: true, allowedNames: ['*.example.test', '192.0.2.1'] });
      await expect(registrations.checkIdentifiers(profile(), account, [dns('www.example.test'), ip('192.0.2.1')])).resolves.toBeUndefined();
    });

    it('puts no limit on a registration without allowed names', async () => {
      await expect(registrations.checkIdentifiers(profile(), account, [dns('anything.example.org')])).resolves.toBeUndefined();
    });

    it('refuses every name outside the registration at once, each as a subproblem naming the registration', async () => {
      backend.states.set('reg-1', { enabled: true, allowedNames: ['*.example.test'] });
      const p = await problemOf(() => registrations.checkIdentifiers(profile(), account, [dns('www.example.test'), dns('example.test'), dns('www.example.org')]));
      expect(p).toMatchObject({ type: 'rejectedIdentifier', status: 400, detail: '2 identifier(s) refused' });
      expect(p.subproblems).toEqual([
        { type: 'rejectedIdentifier', detail: 'example.test is not among the names registration "reg-1" may order', identifier: dns('example.test') },
        { type: 'rejectedIdentifier', detail: 'www.example.org is not among the names registration "reg-1" may order', identifier: dns('www.example.org') },
      ]);
    });
  });

  describe('ensure: newAccount on an open profile', () => {
    const summary: AccountSummary = { accountId: 'acct-9', accountUrl: 'https://acme.example.test/acme/web/acct/acct-9', profile: 'web', contact: [], jwkThumbprint: 'jkt-9' };

    it('creates the registration in the backend and returns its id', async () => {
      await expect(registrations.ensure(profile(), summary)).resolves.toBe('reg-acct-9');
      expect(backend.ensured).toEqual([summary]);
    });

    it('returns null when the connector keeps no registrations', async () => {
      await expect(registrations.ensure(profileRuntime(), summary)).resolves.toBeNull();
    });

    it('turns a refusal by the backend into the problem a client sees', async () => {
      backend.failure = new ConnectorError('unauthorized', 'registrations are closed');
      expect(await problemOf(() => registrations.ensure(profile(), summary))).toMatchObject({ type: 'unauthorized', status: 403, detail: 'the backend refused the account: registrations are closed' });
    });
  });
});

describe('Registrations.forget', () => {
  it('drops one cached state, so the next check asks the backend at once', async () => {
    const backend = new FakeRegistrations();
    backend.states.set('reg-1', { enabled: true });
    backend.states.set('reg-2', { enabled: true });
    const regs = new Registrations({ clock: new TestClock(), log: memoryLogger() });
    const profile = profileRuntime({ registrationCacheTtl: '1h' }, connectorOf(backend));
    await regs.checkEnabled(profile, 'reg-1');
    await regs.checkEnabled(profile, 'reg-2');
    backend.states.set('reg-1', { enabled: false });
    await regs.checkEnabled(profile, 'reg-1'); // cached: still enabled
    regs.forget(profile.connectorName, 'reg-1');
    expect(await problemOf(() => regs.checkEnabled(profile, 'reg-1'))).toMatchObject({ type: 'unauthorized' });
    await regs.checkEnabled(profile, 'reg-2');
    expect(backend.asked).toEqual(['reg-1', 'reg-2', 'reg-1']);
  });
});
