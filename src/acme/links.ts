/**
 * Every URL the gateway hands out, in one place. `base` is the public origin plus any mount prefix
 * (`https://ca.example.com` or `https://example.com/pki`); profile URLs live under `/acme/{profile}`.
 */
export interface Links {
  readonly base: string;
  readonly profile: string;
  directory(): string;
  newNonce(): string;
  newAccount(): string;
  newOrder(): string;
  revokeCert(): string;
  keyChange(): string;
  renewalInfo(): string;
  account(id: string): string;
  accountOrders(id: string, cursor?: string): string;
  order(id: string): string;
  finalize(id: string): string;
  authz(id: string): string;
  challenge(id: string): string;
  certificate(id: string): string;
  /** The account id named by a `kid` URL of this profile, or undefined when it is not one. */
  accountIdFromKid(kid: string): string | undefined;
}

export function profilePath(profile: string): string {
  return `/acme/${profile.split('/').map(encodeURIComponent).join('/')}`;
}

export function createLinks(base: string, profile: string): Links {
  const root = `${base.replace(/\/+$/, '')}${profilePath(profile)}`;
  const acctPrefix = `${root}/acct/`;
  return {
    base,
    profile,
    directory: () => `${root}/directory`,
    newNonce: () => `${root}/new-nonce`,
    newAccount: () => `${root}/new-account`,
    newOrder: () => `${root}/new-order`,
    revokeCert: () => `${root}/revoke-cert`,
    keyChange: () => `${root}/key-change`,
    renewalInfo: () => `${root}/renewal-info`,
    account: (id) => `${acctPrefix}${id}`,
    accountOrders: (id, cursor) => `${acctPrefix}${id}/orders${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`,
    order: (id) => `${root}/order/${id}`,
    finalize: (id) => `${root}/order/${id}/finalize`,
    authz: (id) => `${root}/authz/${id}`,
    challenge: (id) => `${root}/chall/${id}`,
    certificate: (id) => `${root}/cert/${id}`,
    accountIdFromKid: (kid) => {
      if (!kid.startsWith(acctPrefix)) return undefined;
      const id = kid.slice(acctPrefix.length);
      return /^[A-Za-z0-9_-]+$/.test(id) ? id : undefined;
    },
  };
}
