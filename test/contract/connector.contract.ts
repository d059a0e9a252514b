/**
 * The connector contract: what every connector does, whatever its backend. Run for each subject in
 * connector-subjects.ts against its test double. A case that needs a capability the subject lacks
 * (the built-in CA has no approvals) is not registered for it, so no case is ever skipped; every
 * case issue #4 names runs for ejbca-ws. docs/connectors.md explains how to add a subject.
 */
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectorError, hasHealthProbe, hasRegistrationSync, hasRevocationStatus, hasTemplateCatalog, type ConnectorErrorCode, type Issued } from '../../src/sdk/index.js';
import { TestClock } from '../../src/lib/clock.js';
import { account, issueRequest, makeCsr, subjects, type Harness } from './connector-subjects.js';

const signal = (): AbortSignal => AbortSignal.timeout(10_000);

/** The error a promise rejects with; fails the test when it resolves or throws something else. */
async function failure(p: Promise<unknown>): Promise<ConnectorError> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a ConnectorError, got a result: ${JSON.stringify(outcome.value).slice(0, 200)}`);
  expect(outcome.error).toBeInstanceOf(ConnectorError);
  return outcome.error as ConnectorError;
}

/** What a client gets: a leaf for exactly these names, signed by the first chain certificate. */
function expectCertificate(issued: Issued, names: readonly string[]): X509Certificate {
  const leaf = new X509Certificate(issued.leafPem);
  const sans = (leaf.subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, ''));
  expect(sans.sort()).toEqual([...names].sort());
  expect(issued.serial).toMatch(/^[0-9a-f]+$/);
  expect(BigInt(`0x${issued.serial}`)).toBe(BigInt(`0x${leaf.serialNumber}`));
  expect(issued.issuer).not.toBe('');
  expect(issued.chainPem.length).toBeGreaterThan(0);
  expect(leaf.verify(new X509Certificate(issued.chainPem[0] ?? '').publicKey)).toBe(true);
  return leaf;
}

describe.each(subjects)('connector contract: $name', (subject) => {
  const can = subject.capabilities;
  /** Registers the case only when the subject can do what it needs (never a skipped test). */
  const when = (capable: boolean) => (capable ? it : () => undefined);
  let h: Harness;

  beforeEach(async () => {
    h = await subject.start({ clock: new TestClock('2030-01-01T00:00:00Z') });
    return () => h.stop();
  });

  afterEach(() => {
    expect(h.backend.protocolErrors()).toEqual([]);
  });

  // ------------------------------------------------------------ issue, idempotency, status

  it('issues a certificate at once for the requested names', async () => {
    const issued = await h.connector.issue(await issueRequest('order-now', ['a.example.test', 'www.a.example.test'], h.template), signal());
    expectCertificate(issued, ['a.example.test', 'www.a.example.test']);
  });

  it('returns the same certificate when a request id is submitted twice', async () => {
    const req = await issueRequest('order-twice', ['b.example.test'], h.template);
    const first = await h.connector.issue(req, signal());
    const second = await h.connector.issue(req, signal());
    expect(second.serial).toBe(first.serial);
    expect(second.leafPem).toBe(first.leafPem);
  });

  it('returns the certificate from status() after the issue response was lost', async () => {
    const req = await issueRequest('order-lost', ['c.example.test'], h.template);
    const lost = await h.connector.issue(req, signal()); // the caller crashed before storing this
    const found = await h.connector.status({ requestId: 'order-lost' }, signal());
    expect(found.serial).toBe(lost.serial);
    expectCertificate(found, ['c.example.test']);
  });

  it('answers not-found from status() for a request it never saw', async () => {
    expect((await failure(h.connector.status({ requestId: 'order-never-seen' }, signal()))).code).toBe('not-found');
  });

  it('refuses a CSR whose signature does not verify as bad-request', async () => {
    const req = await issueRequest('order-bad-csr', ['d.example.test'], h.template, { csr: await makeCsr(['d.example.test'], { tamper: true }) });
    expect((await failure(h.connector.issue(req, signal()))).code).toBe('bad-request');
  });

  it('refuses an identifier the backend will not certify, naming it', async () => {
    const req = await issueRequest('order-bad-name', ['ok.example.test', 'under_score.example.test'], h.template);
    const err = await failure(h.connector.issue(req, signal()));
    expect(['rejected', 'bad-request']).toContain(err.code);
    expect(err.info.identifiers).toContainEqual({ type: 'dns', value: 'under_score.example.test' });
  });

  // ------------------------------------------------------------ approvals

  when(can.approvals)('reports pending-approval with a ticket, then issues once an officer approves', async () => {
    h.backend.requireApproval(true);
    const req = await issueRequest('order-approve', ['e.example.test'], h.template);
    const pending = await failure(h.connector.issue(req, signal()));
    expect(pending.code).toBe('pending-approval');
    const ticket = pending.info.ticket ?? '';
    expect(ticket).not.toBe('');
    expect(pending.info.retryAfterSeconds).toBeGreaterThan(0);

    const still = await failure(h.connector.status({ requestId: 'order-approve', ticket }, signal()));
    expect(still).toMatchObject({ code: 'pending-approval', info: { ticket } });

    h.backend.approve(ticket);
    const issued = await h.connector.status({ requestId: 'order-approve', ticket }, signal());
    expectCertificate(issued, ['e.example.test']);
    expect((await h.connector.status({ requestId: 'order-approve', ticket }, signal())).serial).toBe(issued.serial);
    expect((await h.connector.issue(req, signal())).serial).toBe(issued.serial);
  });

  when(can.approvals)('reports rejected, naming the backend request, once an officer rejects', async () => {
    h.backend.requireApproval(true);
    const pending = await failure(h.connector.issue(await issueRequest('order-reject', ['f.example.test'], h.template), signal()));
    const ticket = pending.info.ticket ?? '';
    h.backend.reject(ticket);
    const err = await failure(h.connector.status({ requestId: 'order-reject', ticket }, signal()));
    expect(err.code).toBe('rejected');
    expect(err.info.ticket).toBe(ticket);
    expect(err.message).toContain(ticket);
  });

  // ------------------------------------------------------------ slow, down, broken

  when(can.slowBackend)('answers timeout when the backend is slower than the caller’s deadline', async () => {
    await h.backend.slow();
    const req = await issueRequest('order-slow', ['g.example.test'], h.template);
    expect((await failure(h.connector.issue(req, AbortSignal.timeout(300)))).code).toBe('timeout');
    await h.backend.heal();
  });

  it('answers timeout when the deadline has already passed', async () => {
    const req = await issueRequest('order-late', ['h.example.test'], h.template);
    const expired = AbortSignal.abort(new DOMException('deadline passed', 'TimeoutError'));
    expect((await failure(h.connector.issue(req, expired))).code).toBe('timeout');
  });

  for (const mode of can.failureModes) {
    it(`answers unavailable while the backend is down (${mode}), and issues once it is back`, async () => {
      const req = await issueRequest(`order-down-${mode}`, ['i.example.test'], h.template);
      await h.backend.fail(mode);
      const err = await failure(h.connector.issue(req, signal()));
      expect(err.code).toBe('unavailable');
      await h.backend.heal();
      expectCertificate(await h.connector.issue(req, signal()), ['i.example.test']);
    });
  }

  for (const kind of can.brokenCertificates) {
    it(`answers a ConnectorError, not a crash, for a ${kind} certificate, and recovers through status()`, async () => {
      h.backend.breakNextCertificate(kind);
      const req = await issueRequest(`order-broken-${kind}`, ['j.example.test'], h.template);
      const err = await failure(h.connector.issue(req, signal()));
      expect<ConnectorErrorCode[]>(['unavailable', 'misconfigured']).toContain(err.code);
      expectCertificate(await h.connector.status({ requestId: `order-broken-${kind}` }, signal()), ['j.example.test']);
    });
  }

  // ------------------------------------------------------------ revocation

  it('revokes, then answers already-revoked to a second revocation', async () => {
    const issued = await h.connector.issue(await issueRequest('order-revoke', ['k.example.test'], h.template), signal());
    await h.connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal());
    const again = await failure(h.connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal()));
    expect(again.code).toBe('already-revoked');
    if (hasRevocationStatus(h.connector)) {
      expect(await h.connector.certificateStatus(issued.serial, issued.issuer, signal())).toMatchObject({ revoked: true, reason: 1 });
    }
  });

  it('answers not-found when revoking a certificate it never issued', async () => {
    const issued = await h.connector.issue(await issueRequest('order-other', ['l.example.test'], h.template), signal());
    const err = await failure(h.connector.revoke({ serial: '7e57000000000001', issuer: issued.issuer, reason: 0 }, signal()));
    expect(err.code).toBe('not-found');
  });

  when(can.outOfBandRevocation)('reports a revocation made in the backend behind its back', async () => {
    const issued = await h.connector.issue(await issueRequest('order-oob', ['m.example.test'], h.template), signal());
    expect(hasRevocationStatus(h.connector)).toBe(true);
    if (!hasRevocationStatus(h.connector)) return;
    expect(await h.connector.certificateStatus(issued.serial, issued.issuer, signal())).toEqual({ revoked: false });
    await h.backend.revokeOutOfBand(issued.serial, 4);
    expect(await h.connector.certificateStatus(issued.serial, issued.issuer, signal())).toMatchObject({ revoked: true, reason: 4 });
    expect((await failure(h.connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal()))).code).toBe('already-revoked');
  });

  // ------------------------------------------------------------ registrations

  when(can.registrations)('creates one registration per account and reports it enabled without limits', async () => {
    expect(hasRegistrationSync(h.connector)).toBe(true);
    if (!hasRegistrationSync(h.connector)) return;
    const ref = await h.connector.ensureRegistration(account('acct-reg'), signal());
    expect(await h.connector.ensureRegistration(account('acct-reg'), signal())).toEqual(ref);
    expect(await h.connector.registration(ref, signal())).toEqual({ enabled: true });
    expect((await failure(h.connector.registration({ id: 'no-such-registration' }, signal()))).code).toBe('not-found');
  });

  when(can.registrations)('refuses a disabled registration as unauthorized, and issues again once enabled', async () => {
    if (!hasRegistrationSync(h.connector)) throw new Error('registrations capability without RegistrationSync');
    const ref = await h.connector.ensureRegistration(account('acct-off'), signal());
    h.backend.disableRegistration(ref.id);
    expect(await h.connector.registration(ref, signal())).toMatchObject({ enabled: false });
    const req = await issueRequest('order-disabled', ['n.example.test'], h.template, { registration: ref.id, accountId: 'acct-off' });
    expect((await failure(h.connector.issue(req, signal()))).code).toBe('unauthorized');
    h.backend.enableRegistration(ref.id);
    expect(await h.connector.registration(ref, signal())).toMatchObject({ enabled: true });
    expectCertificate(await h.connector.issue(req, signal()), ['n.example.test']);
  });

  when(can.registrations)('lists a registration’s allowed names and refuses identifiers outside them', async () => {
    if (!hasRegistrationSync(h.connector)) throw new Error('registrations capability without RegistrationSync');
    const ref = await h.connector.ensureRegistration(account('acct-names'), signal());
    h.backend.setAllowedNames(ref.id, ['*.allowed.example.test', 'exact.example.test']);
    expect(await h.connector.registration(ref, signal())).toEqual({ enabled: true, allowedNames: ['*.allowed.example.test', 'exact.example.test'] });
    const outside = await issueRequest('order-outside', ['a.allowed.example.test', 'other.example.test'], h.template, { registration: ref.id, accountId: 'acct-names' });
    const err = await failure(h.connector.issue(outside, signal()));
    expect(err.code).toBe('rejected');
    expect(err.info.identifiers).toEqual([{ type: 'dns', value: 'other.example.test' }]);
    const inside = await issueRequest('order-inside', ['x.y.allowed.example.test', 'exact.example.test'], h.template, { registration: ref.id, accountId: 'acct-names' });
    expectCertificate(await h.connector.issue(inside, signal()), ['x.y.allowed.example.test', 'exact.example.test']);
  });

  // ------------------------------------------------------------ templates

  when(can.templates)('lists the templates the backend holds, each once, with their limits, the issuing one among them', async () => {
    if (!hasTemplateCatalog(h.connector)) throw new Error('templates capability without TemplateCatalog');
    const listed = await h.connector.templates(signal());
    expect(listed).toEqual(h.backend.heldTemplates());
    expect(listed.map((t) => t.name)).toContain(h.template.name);
  });

  // ------------------------------------------------------------ health

  it('reports itself healthy when its backend answers', async () => {
    expect(hasHealthProbe(h.connector)).toBe(true);
    if (hasHealthProbe(h.connector)) expect(await h.connector.health(signal())).toMatchObject({ ok: true });
  });
});
