/**
 * The double's control: what an RA officer does in the EJBCA admin GUI (approve or reject a pending
 * request, disable or enable an end entity, change its allowed names, revoke a certificate), what a
 * CA administrator does (edit a certificate profile, offer it in an end entity profile), plus
 * the test's levers (faults, broken replies, approval rules). In-process methods for tests, and a
 * small JSON API on its own loopback port for the standalone (demo) mode.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { STATUS, type Approval, type DoubleState, type ReplyFault } from './state.js';
import type { CertificateProfile } from './profiles.js';

/** Transport faults: the next requests (all of them when `times` is absent) fail this way. */
export type TransportFault =
  | { kind: 'connection-refused' }
  | { kind: 'reset'; times?: number }
  | { kind: 'http-500'; times?: number }
  | { kind: 'soap-fault'; times?: number }
  /** Hold replies for `ms`, or until heal() / stop() when `ms` is absent. */
  | { kind: 'slow'; ms?: number; times?: number };

export interface TransportControl {
  setFault(fault: TransportFault | undefined): Promise<void>;
  protocolErrors: string[];
}

export class DoubleControl {
  constructor(
    readonly state: DoubleState,
    private readonly transport: TransportControl,
  ) {}

  // ------------------------------------------------------------ approvals (the officer)

  pendingApprovals(): Approval[] {
    return [...this.state.approvals.values()].filter((a) => a.state === 'waiting');
  }

  /** One approval; the request is executed once it has as many as its profile requires. */
  approve(requestId: number | string): Approval {
    return this.state.approve(Number(requestId));
  }

  reject(requestId: number | string): Approval {
    return this.state.reject(Number(requestId));
  }

  /** Approves every waiting request until it is executed. */
  approveAll(): Approval[] {
    const done: Approval[] = [];
    for (const a of this.pendingApprovals()) {
      while (a.state === 'waiting') this.state.approve(a.id);
      done.push(a);
    }
    return done;
  }

  /** How many approvals adding or editing an end entity of `profile` needs (0: none). */
  requireApprovals(profile: string, required: number): void {
    const p = this.state.profiles.get(profile);
    if (!p) throw new Error(`no end entity profile ${profile}`);
    p.approvalsRequired = required;
  }

  // ------------------------------------------------------------ profiles (the CA administrator)

  /** Adds or replaces a certificate profile (its key algorithms, bit lengths, curves, validity). */
  setCertificateProfile(name: string, cp: CertificateProfile): void {
    const clash = [...this.state.certificateProfiles].find(([other, p]) => other !== name && p.id === cp.id);
    if (clash) throw new Error(`certificate profile ${clash[0]} already has id ${cp.id}`);
    this.state.certificateProfiles.set(name, cp);
  }

  /** Lets end entity profile `eep` offer certificate profile `cp` too. */
  offerCertificateProfile(eep: string, cp: string): void {
    const p = this.state.profiles.get(eep);
    if (!p) throw new Error(`no end entity profile ${eep}`);
    this.state.certificateProfile(cp); // must exist
    if (!p.certificateProfiles.includes(cp)) p.certificateProfiles.push(cp);
  }

  // ------------------------------------------------------------ end entities (the officer)

  /** "Disables" an end entity the way officers do: status REVOKED (50) or HISTORICAL (60). */
  disable(username: string, status: number = STATUS.REVOKED): void {
    this.state.setStatus(username, status);
  }

  /** Re-activates an end entity (status NEW). */
  enable(username: string): void {
    this.state.setStatus(username, STATUS.NEW);
  }

  /** Sets the names (and wildcards) a registration end entity lists in its subjectAltName. */
  setAllowedNames(username: string, names: readonly string[]): void {
    this.state.setAltNames(username, names);
  }

  /** Revokes a certificate out of band, as an officer in the admin GUI. */
  revoke(serialHex: string, reason = 0): void {
    const c = this.state.certificate(serialHex);
    this.state.revokeCert(c.issuerDn, c.serial, reason);
  }

  // ------------------------------------------------------------ faults (the test)

  /** Transport faults until heal(): connection refused, reset, HTTP 500, SOAP fault, slow replies. */
  fail(fault: TransportFault): Promise<void> {
    return this.transport.setFault(fault);
  }

  heal(): Promise<void> {
    return this.transport.setFault(undefined);
  }

  /** The next issued certificate's reply is broken: not a certificate, or signed by an unknown CA. */
  breakNextCertificate(kind: ReplyFault): void {
    this.state.injectReplyFault(kind);
  }

  /** Takes the RA rights away from (or gives them back to) the client certificate's administrator. */
  denyAdmin(cn: string): void {
    this.state.admins.delete(cn);
  }

  allowAdmin(cn: string): void {
    this.state.admins.add(cn);
  }

  protocolErrors(): string[] {
    return [...this.transport.protocolErrors];
  }

  snapshot(): object {
    return {
      endEntities: [...this.state.endEntities.values()].map(({ password: _password, ...u }) => u),
      approvals: [...this.state.approvals.values()].map(({ action, ...a }) => ({ ...a, subjectAltName: action.subjectAltName })),
      certificates: this.state.certificates.map((c) => ({ serial: c.serial, issuerDn: c.issuerDn, username: c.username, notAfter: c.notAfter, revocation: c.revocation })),
      profiles: Object.fromEntries([...this.state.profiles].map(([name, p]) => [name, { ...p, id: this.state.endEntityProfileId(name), refuseNames: p.refuseNames?.source }])),
      certificateProfiles: Object.fromEntries(this.state.certificateProfiles),
      protocolErrors: this.protocolErrors(),
    };
  }
}

// ---------------------------------------------------------------- HTTP JSON API

const Fault = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('connection-refused') }),
  z.object({ kind: z.literal('reset'), times: z.number().int().positive().optional() }),
  z.object({ kind: z.literal('http-500'), times: z.number().int().positive().optional() }),
  z.object({ kind: z.literal('soap-fault'), times: z.number().int().positive().optional() }),
  z.object({ kind: z.literal('slow'), ms: z.number().int().positive().optional(), times: z.number().int().positive().optional() }),
]);

const CertificateProfileBody = z
  .object({
    id: z.number().int(),
    keyAlgorithms: z.array(z.string()),
    bitLengths: z.array(z.number().int().min(0)),
    ecCurves: z.array(z.string()),
    encodedValidity: z.string().optional(),
    validityDays: z.number().int().positive().optional(),
  })
  .strict();

interface Route {
  method: string;
  pattern: RegExp;
  run(control: DoubleControl, params: string[], body: unknown): Promise<unknown> | unknown;
}

const routes: Route[] = [
  { method: 'GET', pattern: /^\/$/, run: (c) => c.snapshot() },
  { method: 'POST', pattern: /^\/approvals\/approve-all$/, run: (c) => c.approveAll() },
  { method: 'POST', pattern: /^\/approvals\/(\d+)\/approve$/, run: (c, [id]) => c.approve(id ?? '') },
  { method: 'POST', pattern: /^\/approvals\/(\d+)\/reject$/, run: (c, [id]) => c.reject(id ?? '') },
  {
    method: 'PUT',
    pattern: /^\/certificate-profiles\/([^/]+)$/,
    run: (c, [name], b) => {
      const { encodedValidity, validityDays, ...cp } = CertificateProfileBody.parse(b);
      c.setCertificateProfile(name ?? '', { ...cp, ...(encodedValidity === undefined ? {} : { encodedValidity }), ...(validityDays === undefined ? {} : { validityDays }) });
    },
  },
  { method: 'POST', pattern: /^\/profiles\/([^/]+)\/certificate-profiles\/([^/]+)$/, run: (c, [eep, cp]) => c.offerCertificateProfile(eep ?? '', cp ?? '') },
  { method: 'PUT', pattern: /^\/profiles\/([^/]+)\/approvals$/, run: (c, [p], b) => c.requireApprovals(p ?? '', z.object({ required: z.number().int().min(0) }).parse(b).required) },
  { method: 'POST', pattern: /^\/end-entities\/([^/]+)\/disable$/, run: (c, [u], b) => c.disable(u ?? '', z.object({ status: z.union([z.literal(50), z.literal(60)]).default(50) }).parse(b ?? {}).status) },
  { method: 'POST', pattern: /^\/end-entities\/([^/]+)\/enable$/, run: (c, [u]) => c.enable(u ?? '') },
  { method: 'PUT', pattern: /^\/end-entities\/([^/]+)\/allowed-names$/, run: (c, [u], b) => c.setAllowedNames(u ?? '', z.object({ names: z.array(z.string().min(1)) }).parse(b).names) },
  { method: 'POST', pattern: /^\/certificates\/([0-9a-fA-F]+)\/revoke$/, run: (c, [s], b) => c.revoke(s ?? '', z.object({ reason: z.number().int().default(0) }).parse(b ?? {}).reason) },
  { method: 'POST', pattern: /^\/next-certificate$/, run: (c, _p, b) => c.breakNextCertificate(z.object({ kind: z.enum(['garbage', 'unchained']) }).parse(b).kind) },
  { method: 'POST', pattern: /^\/faults$/, run: (c, _p, b) => c.fail(Fault.parse(b)) },
  { method: 'DELETE', pattern: /^\/faults$/, run: (c) => c.heal() },
];

/**
 * Serves the control on http://127.0.0.1:<port>/ (loopback only):
 *   GET / · POST /approvals/approve-all · POST /approvals/{id}/approve|reject ·
 *   PUT /profiles/{eep}/approvals {"required":n} · POST /profiles/{eep}/certificate-profiles/{cp} ·
 *   PUT /certificate-profiles/{name} {"id":n,"keyAlgorithms":[…],"bitLengths":[…],"ecCurves":[…],"encodedValidity":"2y"} ·
 *   POST /end-entities/{username}/disable {"status":50|60} ·
 *   POST /end-entities/{username}/enable · PUT /end-entities/{username}/allowed-names {"names":[…]} ·
 *   POST /certificates/{hexSerial}/revoke {"reason":n} · POST /next-certificate {"kind":"garbage"|"unchained"} ·
 *   POST /faults {"kind":…} · DELETE /faults
 */
export async function startControlApi(control: DoubleControl, opts: { port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://control').pathname);
        const route = routes.find((r) => r.method === req.method && r.pattern.test(path));
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify(body ?? { ok: true }, null, 2)}\n`);
        };
        if (!route) return send(404, { error: `no route ${req.method} ${path}` });
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          const body: unknown = text.trim() === '' ? undefined : JSON.parse(text);
          send(200, await route.run(control, route.pattern.exec(path)?.slice(1) ?? [], body));
        } catch (e) {
          send(400, { error: e instanceof Error ? e.message : String(e) });
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
