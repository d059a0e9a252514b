import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Random } from '../lib/random.js';
import type { ChallengeType } from '../protocol/types.js';
import type { IssuanceService } from '../issuance/service.js';
import type { Store } from '../storage/store.js';
import type { CaaCheckInput, CaaResult } from '../va/caa.js';
import type { ChallengeValidator } from '../va/validator.js';

/** What the registration authority's modules are built from (wired in src/app). */
export interface RaDeps {
  store: Store;
  clock: Clock;
  random: Random;
  log: Logger;
  validators: ReadonlyMap<ChallengeType, ChallengeValidator>;
  issuance: IssuanceService;
  /** CAA (RFC 8659) through the configured resolver. */
  checkCaa(input: CaaCheckInput, signal: AbortSignal): Promise<CaaResult>;
}
