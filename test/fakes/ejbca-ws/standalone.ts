/**
 * `npm run ejbca-double [-- --port 8443 --control-port 8444 --dir ./.tmp/ejbca-double --approvals 1]`
 *
 * Starts the EJBCA double on loopback for demos and manual tests: writes the RA administrator's
 * client certificate and key and the TLS CA to `--dir`, prints the endpoint, the file paths, a
 * connector config to paste, and the control API's URL, then runs until Ctrl-C.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEjbcaDouble } from './server.js';
import { startControlApi } from './control.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'control-port': { type: 'string', default: '0' },
    dir: { type: 'string', default: '.tmp/ejbca-double' },
    approvals: { type: 'string', default: '0' },
  },
});

const dir = resolve(values.dir);
await mkdir(dir, { recursive: true, mode: 0o700 });
const double = await startEjbcaDouble({ port: Number(values.port) });
double.control.requireApprovals('ACME_SERVER', Number(values.approvals));
const api = await startControlApi(double.control, { port: Number(values['control-port']) });

const files = { clientCert: join(dir, 'ra-admin.pem'), clientKey: join(dir, 'ra-admin.key'), caCert: join(dir, 'management-ca.pem'), issuingChain: join(dir, 'issuing-chain.pem') };
await writeFile(files.clientCert, double.ca.admin.pem);
await writeFile(files.clientKey, double.ca.admin.keyPem, { mode: 0o600 });
await writeFile(files.caCert, double.ca.management.pem);
await writeFile(files.issuingChain, double.ca.issuing.pem + double.ca.root.pem);

const out = process.stdout;
out.write(`EJBCA web-service double (${double.state.caName}), mutual TLS\n`);
out.write(`  endpoint      ${double.url}\n`);
out.write(`  client cert   ${files.clientCert}\n`);
out.write(`  client key    ${files.clientKey}\n`);
out.write(`  CA (TLS)      ${files.caCert}\n`);
out.write(`  issuing chain ${files.issuingChain}\n`);
out.write(`  control API   ${api.url}   (GET / for the state; see test/fakes/ejbca-ws/control.ts)\n`);
out.write(`  profiles      ACME_SERVER (certificate profile SERVER, approvals ${values.approvals}), ACME_REGISTRATION\n`);
out.write(`  cert profiles ${[...double.state.certificateProfiles].map(([name, cp]) => `${name} (${cp.keyAlgorithms.join('/')}, ${cp.encodedValidity ?? `${cp.validityDays ?? '?'}d`})`).join(', ')}; PUT ${api.url}certificate-profiles/<name> to change\n\n`);
out.write(`connectors:\n  ejbca:\n    type: ejbca-ws\n    url: ${double.url}\n    clientCert: ${files.clientCert}\n    clientKey: ${files.clientKey}\n    caCert: ${files.caCert}\n`);
out.write(`    caName: ${double.state.caName}\n    endEntityProfile: ACME_SERVER\n    registration: { endEntityProfile: ACME_REGISTRATION }\n`);
out.write(`profiles:\n  ejbca:\n    connector: ejbca\n    template: SERVER\n\n`);
out.write(`e.g. curl -X POST ${api.url}approvals/approve-all   ·   curl -X POST ${api.url}end-entities/acme-<accountId>/disable\n`);

const stop = async () => {
  await api.close();
  await double.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
