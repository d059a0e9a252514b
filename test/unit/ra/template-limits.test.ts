import { describe, expect, it } from 'vitest';
import { ProfileSchema } from '../../../src/config/schema.js';
import { checkTemplateLimits } from '../../../src/ra/template-limits.js';
import type { ProfileRuntime } from '../../../src/ra/profiles.js';
import type { Connector, TemplateCatalog, TemplateInfo } from '../../../src/sdk/connector.js';

function connector(templates: TemplateInfo[]): Connector & TemplateCatalog {
  const fail = () => Promise.reject(new Error('not used'));
  return { type: 'fake', issue: fail, status: fail, revoke: fail, close: () => Promise.resolve(), templates: () => Promise.resolve(templates) };
}

function endpoint(raw: Record<string, unknown>, c: Connector, name = 'web'): ProfileRuntime {
  const config = ProfileSchema.parse(raw);
  return { name, acmeProfile: name, config, binding: name, bindingEnabled: true, connectorName: 'legacy', connector: c, template: config.template };
}

const signal = () => AbortSignal.timeout(1000);

describe('template limits read from the backend (issue #5)', () => {
  it('accepts a profile that fits its template', async () => {
    const c = connector([{ name: 'SERVER', keyTypes: ['ec-p256', 'rsa-2048'], maxValiditySeconds: 398 * 86400 }]);
    expect(await checkTemplateLimits([endpoint({ template: 'SERVER', csrKeyTypes: ['ec-p256'], validity: { max: '397d' } }, c)], signal())).toEqual([]);
  });

  it('names a template the backend does not have, with the ones it has', async () => {
    const c = connector([{ name: 'SERVER' }, { name: 'CLIENT' }]);
    expect(await checkTemplateLimits([endpoint({ template: 'SERVR' }, c)], signal())).toEqual([
      'profiles.web.template: connector "legacy" has no template "SERVR" (it has: SERVER, CLIENT)',
    ]);
  });

  it('names the CSR key types and the validity the template does not allow', async () => {
    const c = connector([{ name: 'SERVER', keyTypes: ['rsa-2048'], maxValiditySeconds: 90 * 86400 }]);
    const problems = await checkTemplateLimits([endpoint({ template: 'SERVER', csrKeyTypes: ['rsa-2048', 'ec-p256'], validity: { default: '30d', max: '397d' } }, c)], signal());
    expect(problems).toEqual([
      'profiles.web.csrKeyTypes: template "SERVER" does not allow ec-p256 (it allows rsa-2048)',
      'profiles.web.validity.max: 397d is longer than template "SERVER" allows (90d)',
    ]);
  });

  it('checks the templates of certificate profiles too', async () => {
    const c = connector([{ name: 'SERVER' }]);
    const problems = await checkTemplateLimits([endpoint({ template: 'SERVER', certificateProfiles: { short: { description: 'short', template: 'SHORT' } } }, c)], signal());
    expect(problems).toEqual(['profiles.web.certificateProfiles.short.template: connector "legacy" has no template "SHORT" (it has: SERVER)']);
  });

  it('leaves connectors that cannot list templates alone', async () => {
    const fail = () => Promise.reject(new Error('not used'));
    const plain: Connector = { type: 'plain', issue: fail, status: fail, revoke: fail, close: () => Promise.resolve() };
    expect(await checkTemplateLimits([endpoint({ template: 'anything' }, plain)], signal())).toEqual([]);
  });
});
