/**
 * Per-tenant request budget as a token bucket. State lives in this process's memory, so the
 * limit is per instance: with N scaled-out instances a tenant can get up to N times the
 * configured rate. That is deliberate (no shared store on the hot path); it protects each
 * instance from one noisy tenant, while per-tenant model budgets protect quota globally.
 */
export interface RateLimiter {
  /**
   * Takes one token from `key`'s bucket, which holds at most `perMinute` tokens and refills at
   * `perMinute` per minute. Returns how long to wait when the bucket is empty.
   */
  take(key: string, perMinute: number): { allowed: true } | { allowed: false; retryAfterMs: number };
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

/** In-memory token buckets; `now` is injectable so tests control time. */
export class TokenBucketRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(now: () => number = () => Date.now()) {
    this.#now = now;
  }

  take(key: string, perMinute: number): { allowed: true } | { allowed: false; retryAfterMs: number } {
    const now = this.#now();
    const ratePerMs = perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: perMinute, updatedAtMs: now };
    // A clock that goes backwards refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - bucket.updatedAtMs);
    bucket.tokens = Math.min(perMinute, bucket.tokens + elapsed * ratePerMs);
    bucket.updatedAtMs = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / ratePerMs) };
  }
}
