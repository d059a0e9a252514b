/**
 * The EJBCA web-service double: a real SOAP 1.1 server (the `soap` package's `listen`) built from
 * the WSDL the connector ships, over mutual TLS like EJBCA ("All methods have to be called using
 * client authenticated https"). Every request body is checked against the WSDL's schema before
 * `soap` sees it and refused with a soap:Client fault when it does not match; every reply is
 * checked too. Both kinds of mismatch are kept in `protocolErrors` so tests can insist on none.
 * Behaviour lives in state.ts, the officer's and the test's levers in control.ts.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import soap from 'soap';
import { createDoubleCa, type DoubleCa } from './ca.js';
import { DoubleState, EjbcaFault, STATUS, type DoubleStateOptions, type EndEntity } from './state.js';
import { DoubleControl, type TransportFault } from './control.js';
import { loadSchema, validateEnvelope, type Schema } from './schema.js';

export const EJBCA_WS_PATH = '/ejbca/ejbcaws/ejbcaws';
export const WSDL_PATH = fileURLToPath(new URL('../../../connectors/ejbca-ws/wsdl/ejbcaws.wsdl', import.meta.url));
const TNS = 'http://ws.protocol.core.ejbca.org/';
export const EJBCA_VERSION = 'EJBCA 7.7.0 Community (double)';

let cachedWsdl: { xml: string; schema: Schema } | undefined;
function wsdl(): { xml: string; schema: Schema } {
  cachedWsdl ??= (() => {
    const xml = readFileSync(WSDL_PATH, 'utf8');
    return { xml, schema: loadSchema(xml) };
  })();
  return cachedWsdl;
}

export interface EjbcaDoubleOptions {
  clock?: { now(): Date };
  host?: string;
  port?: number;
  ca?: DoubleCa;
  profiles?: DoubleStateOptions['profiles'];
  certificateProfiles?: DoubleStateOptions['certificateProfiles'];
  caName?: string;
}

export interface EjbcaDouble {
  /** https://127.0.0.1:<port>/ejbca/ejbcaws/ejbcaws */
  url: string;
  ca: DoubleCa;
  state: DoubleState;
  control: DoubleControl;
  /** Requests and replies that did not match the schema; empty when the connector speaks the wire format. */
  protocolErrors: string[];
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- argument readers

type Args = Record<string, unknown>;
const isObj = (v: unknown): v is Args => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : typeof v === 'object' ? undefined : String(v));
const num = (v: unknown): number => Number(v);
const bool = (v: unknown): boolean => v === true || v === 'true' || v === '1';
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

function userFrom(v: unknown): EndEntity {
  const u = isObj(v) ? v : {};
  const user: EndEntity = {
    username: str(u['username']) ?? '',
    clearPwd: bool(u['clearPwd']),
    caName: str(u['caName']) ?? '',
    certificateProfileName: str(u['certificateProfileName']) ?? '',
    endEntityProfileName: str(u['endEntityProfileName']) ?? '',
    subjectDN: str(u['subjectDN']) ?? '',
    status: num(u['status']),
    tokenType: str(u['tokenType']) ?? 'USERGENERATED',
    keyRecoverable: bool(u['keyRecoverable']),
    sendNotification: bool(u['sendNotification']),
    extendedInformation: list(u['extendedInformation']).filter(isObj).map((e) => ({ name: str(e['name']) ?? '', value: str(e['value']) ?? '' })),
  };
  for (const k of ['password', 'subjectAltName', 'email', 'startTime', 'endTime'] as const) {
    const value = str(u[k]);
    if (value !== undefined) user[k] = value;
  }
  return user;
}

/** userDataVOWS in schema order, optional fields left out rather than nil (NOTES.md §2.1). */
function userTo(u: EndEntity): Args {
  const out: Args = { caName: u.caName, certificateProfileName: u.certificateProfileName, clearPwd: u.clearPwd };
  if (u.email !== undefined) out['email'] = u.email;
  out['endEntityProfileName'] = u.endEntityProfileName;
  if (u.endTime !== undefined) out['endTime'] = u.endTime;
  if (u.extendedInformation.length > 0) out['extendedInformation'] = u.extendedInformation.map((e) => ({ name: e.name, value: e.value }));
  out['keyRecoverable'] = u.keyRecoverable;
  out['sendNotification'] = u.sendNotification;
  if (u.startTime !== undefined) out['startTime'] = u.startTime;
  out['status'] = u.status;
  if (u.subjectAltName !== undefined) out['subjectAltName'] = u.subjectAltName;
  out['subjectDN'] = u.subjectDN;
  out['tokenType'] = u.tokenType;
  out['username'] = u.username;
  return out;
}

/** certificateData is base64 of the base64 text of the DER (NOTES.md: "base64 twice"). */
const doubleBase64 = (der: Uint8Array) => Buffer.from(Buffer.from(der).toString('base64'), 'ascii').toString('base64');
const certificateWs = (der: Uint8Array) => ({ type: 0, certificateData: doubleBase64(der) });

function faultOf(f: EjbcaFault): { Fault: Args } {
  const detail: Args = { attributes: { 'xmlns:ns2': TNS } };
  if (f.fields.errorCode !== undefined) detail['errorCode'] = { internalErrorCode: f.fields.errorCode };
  detail['message'] = f.message;
  if (f.fields.requestId !== undefined) detail['requestId'] = f.fields.requestId;
  // WaitingForApprovalException's sequence is (requestId, message); the others (errorCode, message).
  const ordered: Args = f.element === 'WaitingForApprovalException' ? { attributes: detail['attributes'], requestId: detail['requestId'], message: detail['message'] } : detail;
  return { Fault: { faultcode: 'soap:Server', faultstring: f.message, detail: { [`ns2:${f.element}`]: ordered }, statusCode: 500 } };
}

/** nameAndId in schema order (id, name). */
const nameAndIds = (list: readonly { id: number; name: string }[]): Args => (list.length > 0 ? { return: list.map((n) => ({ id: n.id, name: n.name })) } : {});

const plainFault = (faultcode: string, faultstring: string) => ({ Fault: { faultcode, faultstring, statusCode: 500 } });

// ---------------------------------------------------------------- the server

export async function startEjbcaDouble(opts: EjbcaDoubleOptions = {}): Promise<EjbcaDouble> {
  const { xml, schema } = wsdl();
  const clock = opts.clock ?? { now: () => new Date() };
  const ca = opts.ca ?? (await createDoubleCa());
  const state = new DoubleState({
    ca,
    clock,
    ...(opts.caName ? { caName: opts.caName } : {}),
    ...(opts.profiles ? { profiles: opts.profiles } : {}),
    ...(opts.certificateProfiles ? { certificateProfiles: opts.certificateProfiles } : {}),
  });
  const protocolErrors: string[] = [];
  let fault: (TransportFault & { left: number }) | undefined;
  const held = new Set<() => void>();

  const adminOf = (req: unknown): string | undefined => {
    const socket = isObj(req) ? (req['socket'] as TLSSocket | undefined) : undefined;
    const cn = socket?.getPeerCertificate?.()?.subject?.CN;
    return Array.isArray(cn) ? cn[0] : cn;
  };

  /** Wraps one operation: authorisation, then the state call, EjbcaFault → SOAP fault. */
  const op =
    (fn: (args: Args) => Promise<Args> | Args, needsAdmin = true) =>
    async (args: unknown, _cb: unknown, _headers: unknown, req: unknown): Promise<Args> => {
      try {
        if (needsAdmin) state.authorize(adminOf(req));
        return await fn(isObj(args) ? args : {});
      } catch (e) {
        if (e instanceof EjbcaFault) throw faultOf(e);
        throw plainFault('soap:Server', e instanceof Error ? e.message : String(e));
      }
    };

  const port = {
    editUser: op((a) => (state.editUser(userFrom(a['arg0'])), {})),
    findUser: op((a) => {
      const m = isObj(a['arg0']) ? a['arg0'] : {};
      const found = state.findUser({ matchwith: num(m['matchwith']), matchtype: num(m['matchtype']), matchvalue: str(m['matchvalue']) ?? '' });
      return found.length > 0 ? { return: found.map(userTo) } : {};
    }),
    pkcs10Request: op(async (a) => {
      const responseType = str(a['arg4']) ?? 'CERTIFICATE';
      if (responseType !== 'CERTIFICATE') throw new EjbcaFault('EjbcaException', `The double only answers responseType CERTIFICATE, not ${responseType}.`, { errorCode: 'NOT_SUPPORTED_RESPONSE_TYPE' });
      const der = await state.pkcs10Request(str(a['arg0']) ?? '', str(a['arg1']), str(a['arg2']) ?? '');
      return { return: { data: doubleBase64(der), responseType } };
    }),
    certificateRequest: op(async (a) => {
      const der = await state.certificateRequest(userFrom(a['arg0']), str(a['arg1']) ?? '', num(a['arg2']));
      return { return: { data: doubleBase64(der), responseType: str(a['arg4']) ?? 'CERTIFICATE' } };
    }),
    findCerts: op((a) => {
      const certs = state.findCerts(str(a['arg0']) ?? '', bool(a['arg1']));
      return certs.length > 0 ? { return: certs.map((c) => certificateWs(c.der)) } : {};
    }),
    getLastCertChain: op((a) => {
      const last = state.findCerts(str(a['arg0']) ?? '', false).at(-1);
      return last ? { return: [last.der, ...state.caChain(state.caName)].map(certificateWs) } : {};
    }),
    getLastCAChain: op((a) => ({ return: state.caChain(str(a['arg0']) ?? '').map(certificateWs) })),
    revokeCert: op((a) => (state.revokeCert(str(a['arg0']) ?? '', str(a['arg1']) ?? '', num(a['arg2'])), {})),
    checkRevokationStatus: op((a) => {
      const s = state.revocationStatus(str(a['arg0']) ?? '', str(a['arg1']) ?? '');
      if (!s) return {};
      const out: Args = { certificateSN: s.certificateSN, issuerDN: s.issuerDN, reason: s.reason };
      if (s.revocationDate) out['revocationDate'] = s.revocationDate.toISOString();
      return { return: out };
    }),
    getRemainingNumberOfApprovals: op((a) => ({ return: state.remainingApprovals(num(a['arg0'])) })),
    // nameAndId lists: an empty list is no return element at all.
    getAuthorizedEndEntityProfiles: op(() => nameAndIds(state.authorizedEndEntityProfiles())),
    getAvailableCertificateProfiles: op((a) => nameAndIds(state.availableCertificateProfiles(num(a['arg0'])))),
    // xs:base64Binary of the UTF-8 XML (EjbcaWS.getProfile returns the bytes; JAX-WS encodes them once).
    getProfile: op((a) => ({ return: Buffer.from(state.profileXml(num(a['arg0']), str(a['arg1']) ?? ''), 'utf8').toString('base64') })),
    getEjbcaVersion: op(() => ({ return: EJBCA_VERSION }), false),
  };
  // Every other WSDL operation answers like an EJBCA that refuses it, so nothing silently "works".
  const notImplemented = (name: string) =>
    op(() => {
      throw new EjbcaFault('EjbcaException', `Operation ${name} is not implemented by the EJBCA double.`, { errorCode: 'INTERNAL_ERROR' });
    });
  const services = {
    EjbcaWSService: { EjbcaWSPort: new Proxy<Args>(port, { get: (target, name) => target[String(name)] ?? notImplemented(String(name)) }) },
  };

  const server = https.createServer({
    key: ca.server.keyPem,
    cert: ca.server.pem,
    ca: [ca.management.pem],
    requestCert: true,
    rejectUnauthorized: true,
  });
  const soapServer = await new Promise<soap.Server>((resolve, reject) => {
    const s = soap.listen(server, {
      path: EJBCA_WS_PATH,
      services: services as soap.IServices,
      xml,
      suppressStack: true,
      callback: (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(s)),
    });
  });
  const soapListeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');

  // Replies are checked like requests: a reply the schema refuses is a bug in the double.
  soapServer.on('response', (response: { result: unknown }, methodName: string) => {
    if (typeof response.result !== 'string' || response.result === '') return;
    const check = validateEnvelope(schema, response.result);
    if (!check.ok) {
      const msg = `reply to ${methodName} does not match the schema: ${check.errors.join('; ')}`;
      protocolErrors.push(msg);
      response.result = envelope(`<soap:Fault><faultcode>soap:Server</faultcode><faultstring>${escapeXml(msg)}</faultstring></soap:Fault>`);
    }
  });

  const refuseAsClient = (res: ServerResponse, msg: string) => {
    res.writeHead(500, { 'Content-Type': 'text/xml; charset=utf-8' });
    res.end(envelope(`<soap:Fault><faultcode>soap:Client</faultcode><faultstring>${escapeXml(`Unmarshalling Error: ${msg}`)}</faultstring></soap:Fault>`));
  };

  const takeFault = (): TransportFault | undefined => {
    if (!fault) return undefined;
    const f = fault;
    if (Number.isFinite(f.left) && --f.left <= 0) fault = undefined;
    return f;
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://double').pathname.replace(/\/$/, '');
    if (path !== EJBCA_WS_PATH) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const f = takeFault();
        if (f?.kind === 'reset') {
          req.socket.destroy();
          return;
        }
        if (f?.kind === 'slow') {
          await new Promise<void>((resolve) => {
            const release = () => {
              held.delete(release);
              clearTimeout(timer);
              resolve();
            };
            const timer = f.ms === undefined ? undefined : setTimeout(release, f.ms);
            held.add(release);
          });
          if (res.destroyed) return;
        }
        if (f?.kind === 'http-500') {
          res.writeHead(500, { 'Content-Type': 'text/html' }).end('<html><body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>');
          return;
        }
        if (f?.kind === 'soap-fault') {
          res.writeHead(500, { 'Content-Type': 'text/xml; charset=utf-8' });
          res.end(envelope('<soap:Fault><faultcode>soap:Server</faultcode><faultstring>javax.persistence.PersistenceException: could not open a database connection</faultstring></soap:Fault>'));
          return;
        }
        const body = Buffer.concat(chunks);
        if (req.method === 'POST') {
          const check = validateEnvelope(schema, body.toString('utf8'));
          if (!check.ok) {
            protocolErrors.push(`request ${check.operation ?? '(unknown)'} does not match the schema: ${check.errors.join('; ')}`);
            refuseAsClient(res, check.errors.join('; '));
            return;
          }
        }
        Object.assign(req, { body });
        for (const l of soapListeners) l.call(server, req, res);
      })();
    });
  });

  const host = opts.host ?? '127.0.0.1';
  const listen = (p: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(opts.port ?? 0);
  const boundPort = (server.address() as AddressInfo).port;
  let closed = false;
  const close = () => new Promise<void>((resolve) => {
    for (const release of [...held]) release();
    server.close(() => resolve());
    server.closeAllConnections();
  });

  const control = new DoubleControl(state, {
    async setFault(next) {
      const wasRefusing = fault?.kind === 'connection-refused';
      fault = next ? { ...next, left: 'times' in next && next.times !== undefined ? next.times : Infinity } : undefined;
      if (next?.kind === 'connection-refused' && !wasRefusing) await close();
      else if (wasRefusing && next?.kind !== 'connection-refused' && !closed) await listen(boundPort);
      if (!next || next.kind !== 'slow') for (const release of [...held]) release();
    },
    protocolErrors,
  });

  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${boundPort}${EJBCA_WS_PATH}`,
    ca,
    state,
    control,
    protocolErrors,
    async stop() {
      if (closed) return;
      closed = true;
      if (fault?.kind !== 'connection-refused') await close();
      for (const release of [...held]) release();
    },
  };
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

export { STATUS };
