import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EjbcaWsConfigSchema, shippedWsdl } from '../../../../connectors/ejbca-ws/config.js';
import { connectorSchemas } from '../../../../connectors/index.js';
import { validateConfig } from '../../../../src/config/load.js';

const minimal = {
  type: 'ejbca-ws',
  url: 'https://ca.example.test:8443/ejbca/ejbcaws/ejbcaws',
  clientCert: '/etc/gw/ra.pem',
  clientKey: '/etc/gw/ra.key',
  caCert: '/etc/gw/ca.pem',
  caName: 'IssuingCA',
  endEntityProfile: 'ACME_SERVER',
};

const issues = (input: object) => {
  const r = EjbcaWsConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('ejbca-ws config', () => {
  it('fills the defaults of the registration convention, statuses and timeouts', () => {
    expect(EjbcaWsConfigSchema.parse(minimal)).toMatchObject({
      certificateProfile: 'ENDUSER',
      registration: { username: 'acme-{accountId}', subjectDn: 'CN={username}' },
      issuing: { username: 'acme-{accountId}-{orderId}' },
      disabledStatuses: [50, 60],
      customDataPrefix: 'customdata_',
      timeoutMs: 30_000,
      retries: 2,
      retryBackoffMs: 500,
      approvalRetryAfterSeconds: 60,
    });
  });

  it('refuses unknown keys and a plain-http url', () => {
    expect(issues({ ...minimal, endpoint: 'x' })).toEqual([expect.stringContaining('endpoint')]);
    expect(issues({ ...minimal, url: 'http://ca.example.test/ejbca/ejbcaws/ejbcaws' })).toEqual([expect.stringContaining('url: must be an https:// URL')]);
  });

  it('insists on {orderId} in the issuing scheme and {accountId} in the registration scheme', () => {
    expect(issues({ ...minimal, issuing: { username: 'acme-{accountId}' } })).toEqual([expect.stringContaining('issuing.username: must contain {orderId}')]);
    expect(issues({ ...minimal, registration: { username: 'acme-{orderId}' } })).toEqual([
      expect.stringContaining('unknown placeholder {orderId}'),
      expect.stringContaining('must contain {accountId}'),
    ]);
    expect(issues({ ...minimal, issuing: { username: 'acme-{orderId}}' } })).toEqual([expect.stringContaining('unbalanced braces')]);
  });

  it('ships the EJBCA 7.7 WSDL unchanged', () => {
    const path = shippedWsdl();
    expect(existsSync(path)).toBe(true);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe('bc507923f23cb25594fd8922ca90429acb8ff782055f57cd41d1db4b48a253c5');
  });

  it('accepts config/examples/ejbca.yaml as a whole gateway config', () => {
    const file = fileURLToPath(new URL('../../../../config/examples/ejbca.yaml', import.meta.url));
    const result = validateConfig(parse(readFileSync(file, 'utf8')), connectorSchemas());
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (result.ok) expect(result.config.connectors['ejbca']).toMatchObject({ type: 'ejbca-ws', caName: 'IssuingCA' });
  });
});
