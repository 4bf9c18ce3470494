import type { HostExtension, HostServices } from './extension-types.js';
import { createServiceBusExtension } from './service-bus-extension.js';
import { createTimerExtension } from './timer-extension.js';

/**
 * The trigger extensions every devhost starts, in start order. Each owns the triggers and
 * bindings it lists; the core owns HTTP.
 */
export const builtInExtensions: readonly ((services: HostServices) => HostExtension)[] = [
  (services) => createTimerExtension(services),
  (services) => createServiceBusExtension(services),
];
