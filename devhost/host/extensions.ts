import { createDurableExtension } from '../durable/index.js';
import type { HostExtension, HostServices } from './extension-types.js';
import { createServiceBusExtension } from '../service-bus/service-bus-extension.js';
import { createBlobExtension } from '../storage/blob-extension.js';
import { createQueueExtension } from '../storage/queue-extension.js';
import { createTimerExtension } from '../timer/timer-extension.js';

/**
 * The trigger extensions every devhost starts, in start order. Each owns the triggers and
 * bindings it lists; the core owns HTTP. Durable starts first so queue and timer handlers
 * that start orchestrations find it ready.
 */
export const builtInExtensions: readonly ((services: HostServices) => HostExtension)[] = [
  (services) => createDurableExtension(services),
  (services) => createTimerExtension(services),
  (services) => createServiceBusExtension(services),
  (services) => createBlobExtension(services),
  (services) => createQueueExtension(services),
];
