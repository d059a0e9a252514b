/**
 * Issue #5: where a connector can list its templates (TemplateCatalog), the profile's settings are
 * checked against the template's limits read from the backend: the template must exist, the CSR key
 * types must be ones it allows, and the longest validity must fit. At startup a contradiction stops
 * the gateway; later (on a timer, `TemplateLimitWatch`) it is logged and shown in /health.
 */
import type { Clock } from '../lib/clock.js';
import { formatDurationMs } from '../lib/duration.js';
import type { Logger } from '../lib/logger.js';
import { runEvery, type Periodic } from '../lib/periodic.js';
import { hasTemplateCatalog, type TemplateInfo } from '../sdk/connector.js';
import type { ProfileRuntime } from './profiles.js';

/**
 * Every contradiction, as `profiles.<name>.<key>: …` lines. A connector whose templates cannot be
 * read throws, unless `onUnreachable` is given: then it is reported there and its profiles are
 * skipped (at startup a backend that is down must not keep the gateway from starting; the timed
 * check tries again).
 */
export async function checkTemplateLimits(
  endpoints: Iterable<ProfileRuntime>,
  signal: AbortSignal,
  onUnreachable?: (connector: string, err: unknown) => void,
): Promise<string[]> {
  const problems: string[] = [];
  const catalogs = new Map<string, TemplateInfo[] | null>();
  for (const ep of endpoints) {
    const c = ep.connector;
    if (!hasTemplateCatalog(c)) continue;
    let templates = catalogs.get(ep.connectorName);
    if (templates === undefined) {
      try {
        templates = await c.templates(signal);
      } catch (err) {
        if (!onUnreachable) throw err;
        onUnreachable(ep.connectorName, err);
        templates = null;
      }
      catalogs.set(ep.connectorName, templates);
    }
    if (templates === null) continue;
    const where = `profiles.${ep.acmeProfile}`;
    const uses = [
      { key: 'template', template: ep.template.name, validityMax: ep.config.validity.max, validityKey: 'validity.max' },
      ...Object.entries(ep.config.certificateProfiles).map(([name, cp]) => ({
        key: `certificateProfiles.${name}.template`,
        template: cp.template.name,
        validityMax: (cp.validity ?? ep.config.validity).max,
        validityKey: cp.validity ? `certificateProfiles.${name}.validity.max` : 'validity.max',
      })),
    ];
    for (const use of uses) {
      const t = templates.find((x) => x.name === use.template);
      if (!t) {
        problems.push(`${where}.${use.key}: connector "${ep.connectorName}" has no template "${use.template}" (it has: ${templates.map((x) => x.name).join(', ') || 'none'})`);
        continue;
      }
      if (t.keyTypes) {
        const refused = ep.config.csrKeyTypes.filter((k) => !t.keyTypes?.includes(k));
        if (refused.length) problems.push(`${where}.csrKeyTypes: template "${t.name}" does not allow ${refused.join(', ')} (it allows ${t.keyTypes.join(', ') || 'no key type the gateway knows'})`);
      }
      if (t.maxValiditySeconds !== undefined && use.validityMax > t.maxValiditySeconds * 1000) {
        problems.push(`${where}.${use.validityKey}: ${formatDurationMs(use.validityMax)} is longer than template "${t.name}" allows (${formatDurationMs(t.maxValiditySeconds * 1000)})`);
      }
    }
  }
  return problems;
}

/** The latest check, as /health shows it. */
export interface TemplateLimitsResult {
  /** When the latest check ran (the startup check, then each timed one). */
  checkedAt: Date;
  /** The contradictions of the latest check that succeeded. */
  contradictions: string[];
  /** Why the latest check failed (a backend call); absent when it succeeded. */
  error?: string;
}

export interface TemplateLimitWatchOptions {
  /** 0: no timed checks, only the one at startup. */
  intervalMs: number;
  /** Deadline of one check's backend calls. */
  timeoutMs: number;
  /** Told the outcome of each timed check (metrics). */
  onResult?(result: TemplateLimitsResult): void;
}

/**
 * Checks the template limits again every `intervalMs` while the gateway runs: each contradiction is
 * logged at warn on every check, their clearing once at info; a failing backend call is logged and
 * kept as the result's `error`, never thrown. Started and stopped by src/app.
 */
export class TemplateLimitWatch {
  private result: TemplateLimitsResult;
  private job: Periodic | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly endpoints: readonly ProfileRuntime[],
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: TemplateLimitWatchOptions,
    /** The startup check's outcome (no contradictions, or the gateway would not have started). */
    initial: TemplateLimitsResult,
  ) {
    this.result = initial;
  }

  last(): TemplateLimitsResult {
    return this.result;
  }

  /** Starts the timer, unless the interval is 0 or no endpoint's connector lists templates. */
  start(): void {
    if (this.job || this.opts.intervalMs <= 0 || !this.endpoints.some((ep) => hasTemplateCatalog(ep.connector))) return;
    this.job = runEvery(this.opts.intervalMs, () => this.runOnce(), (err) => this.log.error({ err }, 'template limit check failed'));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.job?.stop();
  }

  /** One check; its result is kept for last(). Exposed for tests. */
  async runOnce(): Promise<TemplateLimitsResult> {
    const checkedAt = this.clock.now();
    const before = this.result.contradictions;
    try {
      const contradictions = await checkTemplateLimits(this.endpoints, AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.timeoutMs)]));
      this.result = { checkedAt, contradictions };
      for (const c of contradictions) this.log.warn({ contradiction: c }, 'profile contradicts its template in the backend');
      if (contradictions.length === 0 && before.length > 0) this.log.info({ cleared: before }, 'profiles fit their templates again');
    } catch (err) {
      if (this.stopping.signal.aborted) return this.result;
      this.result = { checkedAt, contradictions: before, error: err instanceof Error ? err.message : String(err) };
      this.log.warn({ err }, 'template limits could not be checked; keeping the last result');
    }
    this.opts.onResult?.(this.result);
    return this.result;
  }
}
