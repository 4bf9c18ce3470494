import { availableParallelism, hostname } from 'node:os';
import type { ContainerClient } from '@azure/storage-blob';
import type { RegisteredFunction, RpcBindingInfo, RpcTypedData } from '../host/core-types.js';
import type { HostExtension, HostServices, InvocationBindingContext } from '../host/extension-types.js';
import { bindingDataFor, compileBlobPath, resolveSettings, resolveTemplate, splitBlobPath, type BlobPathPattern } from './binding-expressions.js';
import { containerNameProblem, isNotFound, processSetting, StorageClients, type SettingLookup } from './storage-account.js';
import { encodeQueueMessage } from './queue-extension.js';

/**
 * Blob trigger, input and output bindings against Azure Storage (Azurite locally).
 *
 * Trigger: each blob-triggered function scans its container every `pollIntervalInMs` (and at once
 * when this devhost's own blob output writes there, as the host's blob-written watcher does),
 * matches blob names against its path pattern, and invokes the function once per blob version
 * (etag). A success is recorded as a receipt blob in `azure-webjobs-hosts`
 * (`blobreceipts/<hostId>/<functionId>/<etag>/<container>/<blob>`), the host's own scheme, so a
 * restart does not process a blob again. A failing blob is retried on later scans; after
 * `extensions.blobs.poisonBlobThreshold` tries (default 5) a message naming it goes to the
 * `webjobs-blobtrigger-poison` queue and a receipt stops further tries. Concurrency across all
 * blob triggers is `extensions.blobs.maxDegreeOfParallelism` (default 8 x cores).
 */

export interface BlobExtensionOptions {
  /** How often each blob trigger lists its container. Default 1000 ms. */
  pollIntervalInMs?: number;
  /** App settings (connection strings, `%name%`); default the process environment. */
  setting?: SettingLookup;
  /** The host id in receipt paths; default `AzureFunctionsWebHost__hostid`, else from the machine name, as the host does. */
  hostId?: string;
}

const RECEIPT_CONTAINER = 'azure-webjobs-hosts';
const POISON_QUEUE = 'webjobs-blobtrigger-poison';

interface Watcher {
  fn: RegisteredFunction;
  pattern: BlobPathPattern;
  connection: unknown;
  /** `<blob name>|<etag>` already done (receipt seen or written). */
  done: Set<string>;
  /** Blob names being processed. */
  inFlight: Set<string>;
  failures: Map<string, number>;
  timer: NodeJS.Timeout | undefined;
  scanning: Promise<void> | undefined;
  rescan: boolean;
  lastError: string | undefined;
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : fallback;
}

function defaultHostId(setting: SettingLookup): string {
  const configured = setting('AzureFunctionsWebHost__hostid');
  if (configured) return configured.toLowerCase();
  const id = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  return id === '' ? 'devhost' : id;
}

/** Output binding data as blob content. */
export function blobContent(data: RpcTypedData | null | undefined, what: string): Buffer | undefined {
  if (data === null || data === undefined) return undefined;
  if (typeof data.string === 'string') return Buffer.from(data.string, 'utf8');
  if (typeof data.json === 'string') return Buffer.from(data.json, 'utf8');
  const bytes = data.bytes ?? data.stream;
  if (bytes) return Buffer.from(bytes);
  if (typeof data.int === 'number' || typeof data.double === 'number') return Buffer.from(String(data.int ?? data.double), 'utf8');
  throw new Error(`${what}: a blob output must be a string, bytes, a number or JSON`);
}

/** Blob content as the worker receives it: a string for `dataType: 'string'`, else bytes (a Buffer in Node). */
function asTypedData(content: Buffer, binding: RpcBindingInfo): RpcTypedData {
  return binding['dataType'] === 'string' ? { string: content.toString('utf8') } : { bytes: content };
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

export function createBlobExtension(services: HostServices, options: BlobExtensionOptions = {}): HostExtension {
  const { logger } = services;
  const setting = options.setting ?? processSetting;
  const clients = new StorageClients(setting);
  const pollIntervalInMs = options.pollIntervalInMs ?? 1000;
  const blobsConfig = (services.hostJson.extensions?.['blobs'] ?? {}) as Record<string, unknown>;
  const poisonThreshold = positiveInt(blobsConfig['poisonBlobThreshold'], 5);
  const maxParallelism = positiveInt(blobsConfig['maxDegreeOfParallelism'], 8 * availableParallelism());
  const hostId = options.hostId ?? defaultHostId(setting);
  const watchers: Watcher[] = [];
  const pending = new Set<Promise<void>>();
  const preparedReceipts = new Set<string>();
  let running = false;

  const checkFunction = (fn: RegisteredFunction): string[] => {
    const problems: string[] = [];
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.type !== 'blobTrigger' && binding.type !== 'blob') continue;
      const where = `function "${fn.name}": blob ${binding.type === 'blobTrigger' ? 'trigger' : binding.direction === 'out' ? 'output' : 'input'} "${name}"`;
      try {
        clients.blob(binding['connection']);
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
      const path = binding['path'];
      if (typeof path !== 'string' || path.trim() === '') {
        problems.push(`${where} needs a 'path'`);
        continue;
      }
      if (binding.direction === 'inout') problems.push(`${where}: in/out blob bindings are not supported by the devhost`);
      const properties = binding['properties'] as Record<string, unknown> | undefined;
      if (binding['sdkBinding'] === true || properties?.['supportsDeferredBinding'] === 'true') {
        problems.push(`${where}: SDK-type blob bindings (BlobClient, ContainerClient) are not supported by the devhost; bind the content instead`);
      }
      if (binding.type === 'blobTrigger') {
        if (typeof binding['source'] === 'string' && binding['source'].toLowerCase() === 'eventgrid') {
          problems.push(`${where}: source 'EventGrid' needs an Event Grid subscription, which the devhost does not provide; use the default (LogsAndContainerScan)`);
        }
        try {
          const pattern = compileBlobPath(resolveSettings(path, setting));
          const bad = containerNameProblem(pattern.container);
          if (bad) problems.push(`${where}: ${bad}`);
        } catch (error) {
          problems.push(`${where}: ${(error as Error).message}`);
        }
      }
    }
    return problems;
  };

  const receiptName = (fn: RegisteredFunction, etag: string, container: string, blobName: string): string =>
    `blobreceipts/${hostId}/Host.Functions.${fn.name}/${etag.replace(/"/g, '')}/${container}/${blobName}`;

  const receipts = async (connection: unknown): Promise<ContainerClient> => {
    const container = clients.blob(connection).getContainerClient(RECEIPT_CONTAINER);
    const key = clients.connectionString(connection);
    if (!preparedReceipts.has(key)) {
      await container.createIfNotExists();
      preparedReceipts.add(key);
    }
    return container;
  };

  const writeReceipt = async (w: Watcher, etag: string, blobName: string, extra: Record<string, string> = {}): Promise<void> => {
    const container = await receipts(w.connection);
    await container.getBlockBlobClient(receiptName(w.fn, etag, w.pattern.container, blobName)).upload('', 0, { metadata: { FunctionId: `Host.Functions.${w.fn.name}`, ...extra } });
  };

  const poison = async (w: Watcher, etag: string, blobName: string): Promise<void> => {
    const queue = clients.queue(w.connection).getQueueClient(POISON_QUEUE);
    await queue.createIfNotExists();
    const body = JSON.stringify({
      Type: 'BlobTrigger',
      FunctionId: `Host.Functions.${w.fn.name}`,
      BlobType: 'BlockBlob',
      ContainerName: w.pattern.container,
      BlobName: blobName,
      ETag: etag,
    });
    await queue.sendMessage(encodeQueueMessage(body, 'base64'));
  };

  const totalInFlight = (): number => watchers.reduce((n, w) => n + w.inFlight.size, 0);

  const processBlob = async (w: Watcher, blobName: string, etag: string, bound: Record<string, string>): Promise<void> => {
    const key = `${blobName}|${etag}`;
    const blob = clients.blob(w.connection).getContainerClient(w.pattern.container).getBlobClient(blobName);
    let content: Buffer;
    let download;
    try {
      download = await blob.download(0, undefined, { conditions: { ifMatch: etag } });
      content = await readAll(download.readableStreamBody);
    } catch (error) {
      // Deleted or changed since the listing: the next scan sees the current version.
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 412) return;
      throw error;
    }
    const properties = {
      LastModified: download.lastModified?.toISOString(),
      CreatedOn: download.createdOn?.toISOString(),
      ContentLength: download.contentLength,
      ContentType: download.contentType,
      ContentEncoding: download.contentEncoding,
      ContentLanguage: download.contentLanguage,
      ContentHash: download.contentMD5 ? Buffer.from(download.contentMD5).toString('base64') : undefined,
      ETag: download.etag ?? etag,
      BlobType: download.blobType === 'BlockBlob' ? 'Block' : download.blobType,
      LeaseState: download.leaseState,
      LeaseStatus: download.leaseStatus,
    };
    const metadata: Record<string, RpcTypedData> = {
      BlobTrigger: { string: `${w.pattern.container}/${blobName}` },
      Uri: { string: blob.url },
      Properties: { json: JSON.stringify(properties) },
      Metadata: { json: JSON.stringify(download.metadata ?? {}) },
    };
    for (const [name, value] of Object.entries(bound)) metadata[name] = { string: value };
    try {
      await services.invoke(w.fn, { [w.fn.triggerBindingName]: asTypedData(content, w.fn.trigger) }, metadata);
    } catch {
      // The invoker has logged the error. Retry on a later scan, up to the poison threshold.
      const tries = (w.failures.get(key) ?? 0) + 1;
      w.failures.set(key, tries);
      if (tries < poisonThreshold) {
        logger.warn(`Blob trigger '${w.fn.name}': ${w.pattern.container}/${blobName} failed (try ${tries} of ${poisonThreshold}); it is retried.`);
        return;
      }
      logger.error(
        `Blob trigger '${w.fn.name}': ${w.pattern.container}/${blobName} failed ${tries} times; a message goes to the '${POISON_QUEUE}' queue and it is not tried again.`,
      );
      // Done in this process whatever happens next, so a poison queue that cannot be written
      // does not turn into endless retries; the receipt makes it stick across restarts.
      w.failures.delete(key);
      w.done.add(key);
      await poison(w, etag, blobName);
      await writeReceipt(w, etag, blobName, { Poisoned: 'true' });
      return;
    }
    await writeReceipt(w, etag, blobName);
    w.failures.delete(key);
    w.done.add(key);
  };

  const receiptExists = async (w: Watcher, etag: string, blobName: string): Promise<boolean> => {
    const container = await receipts(w.connection);
    return container.getBlobClient(receiptName(w.fn, etag, w.pattern.container, blobName)).exists();
  };

  const scan = async (w: Watcher): Promise<void> => {
    const container = clients.blob(w.connection).getContainerClient(w.pattern.container);
    try {
      for await (const item of container.listBlobsFlat(w.pattern.prefix === '' ? {} : { prefix: w.pattern.prefix })) {
        if (!running) return;
        const bound = w.pattern.match(item.name);
        const etag = item.properties.etag;
        if (!bound || !etag) continue;
        const key = `${item.name}|${etag}`;
        if (w.done.has(key) || w.inFlight.has(item.name)) continue;
        if (totalInFlight() >= maxParallelism) {
          w.rescan = true;
          return;
        }
        if (await receiptExists(w, etag, item.name)) {
          w.done.add(key);
          continue;
        }
        w.inFlight.add(item.name);
        const work = processBlob(w, item.name, etag, bound)
          .finally(() => {
            w.inFlight.delete(item.name);
            pending.delete(work);
          })
          // A finished blob frees a slot, a failed one is due for its next try: look again now.
          // Storage errors wait for the next regular scan instead (no hot loop while Azurite is down).
          .then(
            () => wake(w),
            (error: unknown) => logger.error(`Blob trigger '${w.fn.name}': processing ${w.pattern.container}/${item.name} failed: ${(error as Error)?.message ?? String(error)}`),
          );
        pending.add(work);
      }
      w.lastError = undefined;
    } catch (error) {
      if (isNotFound(error)) return; // No container yet: nothing to trigger on.
      const message = (error as Error)?.message ?? String(error);
      if (message !== w.lastError) logger.warn(`Blob trigger '${w.fn.name}': listing container '${w.pattern.container}' failed (retrying): ${message}`);
      w.lastError = message;
    }
  };

  const schedule = (w: Watcher, delayInMs: number): void => {
    if (!running) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      runScan(w);
    }, delayInMs);
    w.timer.unref();
  };

  const runScan = (w: Watcher): void => {
    if (!running) return;
    if (w.scanning) {
      w.rescan = true;
      return;
    }
    w.rescan = false;
    w.scanning = scan(w).finally(() => {
      w.scanning = undefined;
      schedule(w, w.rescan ? 0 : pollIntervalInMs);
    });
  };

  function wake(w: Watcher): void {
    schedule(w, 0);
  }

  const blobPathFor = (binding: RpcBindingInfo, fn: RegisteredFunction, invocation: InvocationBindingContext): { container: string; blobName: string } =>
    splitBlobPath(resolveTemplate(String(binding['path']), bindingDataFor(fn, invocation), setting));

  return {
    triggerTypes: ['blobTrigger'],
    bindingTypes: ['blob'],
    checkFunction,

    async resolveInput(binding, fn, invocation) {
      const { container, blobName } = blobPathFor(binding, fn, invocation);
      const blob = clients.blob(binding['connection']).getContainerClient(container).getBlobClient(blobName);
      try {
        // One GET (not downloadToBuffer's properties + ranges), so a concurrent overwrite cannot tear it.
        return asTypedData(await readAll((await blob.download()).readableStreamBody), binding);
      } catch (error) {
        if (isNotFound(error)) return null; // The host binds a missing blob as null.
        throw error;
      }
    },

    async deliverOutputs(fn, outcome, invocation) {
      for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
        if (binding.type !== 'blob' || binding.direction !== 'out') continue;
        const content = blobContent(name === '$return' ? outcome.returnValue : outcome.outputs.get(name), `function "${fn.name}"`);
        if (content === undefined) continue;
        const { container, blobName } = blobPathFor(binding, fn, invocation ?? { inputs: {}, triggerMetadata: {} });
        const containerClient = clients.blob(binding['connection']).getContainerClient(container);
        await containerClient.createIfNotExists();
        await containerClient.getBlockBlobClient(blobName).uploadData(content);
        for (const w of watchers) if (w.pattern.container === container && clients.connectionString(w.connection) === clients.connectionString(binding['connection'])) wake(w);
      }
    },

    async invokeFromAdmin(fn, input) {
      // As the host's admin API: the input is a blob path, "<container>/<blob>".
      const { container, blobName } = splitBlobPath(input ?? '');
      const blob = clients.blob(fn.trigger['connection']).getContainerClient(container).getBlobClient(blobName);
      const content = await readAll((await blob.download()).readableStreamBody);
      void services
        .invoke(fn, { [fn.triggerBindingName]: asTypedData(content, fn.trigger) }, { BlobTrigger: { string: `${container}/${blobName}` }, Uri: { string: blob.url } })
        .catch(() => undefined);
    },

    async start(): Promise<void> {
      running = true;
      for (const fn of services.functions.values()) {
        if (fn.trigger.type !== 'blobTrigger') continue;
        const pattern = compileBlobPath(resolveSettings(String(fn.trigger['path']), setting));
        const w: Watcher = {
          fn,
          pattern,
          connection: fn.trigger['connection'],
          done: new Set(),
          inFlight: new Set(),
          failures: new Map(),
          timer: undefined,
          scanning: undefined,
          rescan: false,
          lastError: undefined,
        };
        watchers.push(w);
        logger.info(
          `Blob trigger: '${fn.name}' watches '${pattern.container}/${pattern.names.length > 0 || pattern.prefix !== '' ? String(fn.trigger['path']).split('/').slice(1).join('/') : ''}'.`,
        );
        wake(w);
      }
    },

    async stop(): Promise<void> {
      running = false;
      for (const w of watchers) if (w.timer) clearTimeout(w.timer);
      await Promise.all(watchers.map(async (w) => w.scanning));
      await Promise.all([...pending]);
      watchers.length = 0;
    },
  };
}
