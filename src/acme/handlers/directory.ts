import type { ProfiledContext } from '../context.js';

// RFC 8555 §7.1.1: the directory, one per profile; meta carries what the profile promises.
export async function directory(ctx: ProfiledContext): Promise<void> {
  const { links, profile } = ctx.state;
  const cfg = profile.config;
  ctx.body = {
    newNonce: links.newNonce(),
    newAccount: links.newAccount(),
    newOrder: links.newOrder(),
    revokeCert: links.revokeCert(),
    keyChange: links.keyChange(),
    renewalInfo: links.renewalInfo(), // RFC 9773 §3
    meta: {
      ...(cfg.termsOfService ? { termsOfService: cfg.termsOfService } : {}),
      ...(cfg.website ? { website: cfg.website } : {}),
      caaIdentities: cfg.caaIdentities,
      externalAccountRequired: cfg.eab.required,
      ...(Object.keys(cfg.certificateProfiles).length > 0
        ? { profiles: Object.fromEntries(Object.entries(cfg.certificateProfiles).map(([name, p]) => [name, p.description])) } // draft-ietf-acme-profiles-01 §3
        : {}),
      ...(cfg.enabled && profile.bindingEnabled ? {} : { disabled: true }),
      ...(cfg.description ? { description: cfg.description } : {}),
    },
  };
}
