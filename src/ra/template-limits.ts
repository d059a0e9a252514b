/**
 * Issue #5: where a connector can list its templates (TemplateCatalog), the profile's settings are
 * checked against the template's limits read from the backend: the template must exist, the CSR key
 * types must be ones it allows, and the longest validity must fit. At startup a contradiction stops
 * the gateway; later (on a timer) it is logged and shown in /health.
 */
import { formatDurationMs } from '../lib/duration.js';
import { hasTemplateCatalog, type TemplateInfo } from '../sdk/connector.js';
import type { ProfileRuntime } from './profiles.js';

/** Every contradiction, as `profiles.<name>.<key>: …` lines. */
export async function checkTemplateLimits(endpoints: Iterable<ProfileRuntime>, signal: AbortSignal): Promise<string[]> {
  const problems: string[] = [];
  const catalogs = new Map<string, TemplateInfo[]>();
  for (const ep of endpoints) {
    const c = ep.connector;
    if (!hasTemplateCatalog(c)) continue;
    let templates = catalogs.get(ep.connectorName);
    if (!templates) {
      templates = await c.templates(signal);
      catalogs.set(ep.connectorName, templates);
    }
    const where = `profiles.${ep.acmeProfile}`;
    const uses = [
      { key: 'template', template: ep.template.name, validityMax: ep.config.validity.max },
      ...Object.entries(ep.config.certificateProfiles).map(([name, cp]) => ({ key: `certificateProfiles.${name}.template`, template: cp.template.name, validityMax: (cp.validity ?? ep.config.validity).max })),
    ];
    for (const use of uses) {
      const t = templates.find((x) => x.name === use.template);
      if (!t) {
        problems.push(`${where}.${use.key}: connector "${ep.connectorName}" has no template "${use.template}" (it has: ${templates.map((x) => x.name).join(', ') || 'none'})`);
        continue;
      }
      if (t.keyTypes) {
        const refused = ep.config.csrKeyTypes.filter((k) => !t.keyTypes?.includes(k));
        if (refused.length) problems.push(`${where}.csrKeyTypes: template "${t.name}" does not allow ${refused.join(', ')} (it allows ${t.keyTypes.join(', ')})`);
      }
      if (t.maxValiditySeconds !== undefined && use.validityMax > t.maxValiditySeconds * 1000) {
        problems.push(`${where}.validity.max: ${formatDurationMs(use.validityMax)} is longer than template "${t.name}" allows (${formatDurationMs(t.maxValiditySeconds * 1000)})`);
      }
    }
  }
  return problems;
}
