/**
 * The `connectors.<name>` section of a gateway that issues through the EJBCA double: the RA
 * administrator's client certificate and key and the management CA written to `dir` (mode 0600),
 * the double's CA name, and the end entity profiles the double knows. `extra` overrides or adds keys.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EjbcaDouble } from '../fakes/ejbca-ws/server.js';

export async function ejbcaConnectorSection(ejbca: EjbcaDouble, dir: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const file = async (name: string, text: string) => {
    const p = path.join(dir, name);
    await writeFile(p, text, { mode: 0o600 });
    return p;
  };
  return {
    type: 'ejbca-ws',
    url: ejbca.url,
    clientCert: await file('ra-admin.pem', ejbca.ca.admin.pem),
    clientKey: await file('ra-admin.key', ejbca.ca.admin.keyPem),
    caCert: await file('management-ca.pem', ejbca.ca.management.pem),
    caName: ejbca.state.caName,
    endEntityProfile: 'ACME_SERVER',
    registration: { endEntityProfile: 'ACME_REGISTRATION' },
    timeoutMs: 10_000,
    ...extra,
  };
}
