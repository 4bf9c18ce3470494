import { describe, expect, it } from 'vitest';
import { hostFixture, LIBRARY_VERSIONS, printed } from './conformance-kit.js';

interface Attempt {
  retryCount: number | null;
  maxRetryCount: number | null;
  previousError: string | null;
}

const once = [{ retryCount: null, maxRetryCount: null, previousError: null }];

describe('retry policies on timer triggers (issue 13, item 5)', () => {
  for (const library of LIBRARY_VERSIONS) {
    // @azure/functions 4.3 leaves `retry` out of the metadata for app.timer (it becomes a stray
    // property of the trigger binding), so the host never sees that policy; app.generic passes it.
    const timerPassesRetry = library.label !== '4.3.0';
    it(`@azure/functions ${library.label}: retries with retryContext.retryCount rising, stops at the maximum or on success; no policy, no retry`, async () => {
      const host = await hostFixture('timer-retry-app', library);
      try {
        // Each line is printed once its timer's occurrence (retries included) is over.
        await printed(host, timerPassesRetry ? /Function 'alwaysFails': all 3 retries failed\./ : /Timer 'alwaysFails': invocation failed/);
        await printed(host, timerPassesRetry ? /Executed 'failsTwice' \(Succeeded/ : /Timer 'failsTwice': invocation failed/);
        await printed(host, /Timer 'noPolicy': invocation failed/);
        await printed(host, /Function 'generic': all 2 retries failed\./);
        const res = await fetch(`${host.url}/api/attempts`, { method: 'POST' });
        const attempts = (await res.json()) as Record<string, Attempt[]>;

        if (timerPassesRetry) {
          expect(attempts['alwaysFails']).toEqual([
            { retryCount: 0, maxRetryCount: 3, previousError: null },
            { retryCount: 1, maxRetryCount: 3, previousError: 'attempt 1 failed' },
            { retryCount: 2, maxRetryCount: 3, previousError: 'attempt 2 failed' },
            { retryCount: 3, maxRetryCount: 3, previousError: 'attempt 3 failed' },
          ]);
          expect(attempts['failsTwice']?.map((a) => a.retryCount)).toEqual([0, 1, 2]);
          expect(attempts['failsTwice']?.[0]?.maxRetryCount).toBe(5);
          expect(host.output()).toMatch(/Function 'alwaysFails': retry 3 of 3 in 0 ms\./);
        } else {
          expect(attempts['alwaysFails']).toEqual(once);
          expect(attempts['failsTwice']).toEqual(once);
        }
        expect(attempts['generic']?.map((a) => [a.retryCount, a.maxRetryCount])).toEqual([
          [0, 2],
          [1, 2],
          [2, 2],
        ]);
        expect(attempts['noPolicy']).toEqual(once);
      } finally {
        expect(await host.close()).toBe(0);
      }
    });
  }
});
