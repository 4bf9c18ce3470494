import { parseConfig, type AppConfig } from './config.js';

/** Everything handlers need, built once per process. Tests pass overrides instead of mocking modules. */
export interface Deps {
  config: AppConfig;
  /** Milliseconds since the epoch; injectable so tests control time. */
  now: () => number;
  startedAtMs: number;
  version: string;
}

export function createDeps(config: AppConfig, overrides: Partial<Deps> = {}): Deps {
  const now = overrides.now ?? (() => Date.now());
  return {
    config,
    now,
    startedAtMs: overrides.startedAtMs ?? now(),
    version: overrides.version ?? '0.1.0',
  };
}

/** The process-wide dependencies the registered functions use. Config errors stop the app here. */
export const deps: Deps = createDeps(parseConfig(process.env));
