import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { AppLoadError, loadApp, type DisabledFunction, type LoadedApp } from './app-loader.js';
import type { Invoker, RegisteredFunction } from './core-types.js';
import type { HostExtension, HostServices } from './extension-types.js';
import { builtInExtensions } from './extensions.js';
import { FunctionKeyStore } from './function-keys.js';
import { setSystemLogSink } from './functions-core-shim.js';
import { buildHttpRoutes, dispatchHttp, presentedKey, sendStatus, type HttpRoute } from '../http/http-dispatch.js';
import { createCrashPlan, parseCrashPoints } from './crash-points.js';
import { createInvoker } from './invoker.js';
import { createConsoleLogger, type DevhostLogger, type LogLevel } from './logger.js';
import { sendJson, sendProblem } from './http-response.js';
import { RETRY_POLICY_TRIGGERS } from './retry-policy.js';
import { DEFAULT_REQUEST_BODY_LIMIT_BYTES, declaresTooMuch, readBodyText, refuseTooLarge } from './request-body.js';
import { isCrossSiteWrite, isHostApiPath, isOwnHost, ownAuthorities } from './request-origin.js';
import { STORAGE_RETRY_AFTER_SECONDS, openDatabase, storageHealth, type StorageHealth, type StorageOption } from './storage.js';
import { HTTP_URI_CAPABILITY, REQUIRES_ROUTE_PARAMETERS_CAPABILITY, hasCapability, workerCapabilities } from './worker-capabilities.js';

export interface DevhostOptions {
  /** The Functions app folder (its package.json `main` names the entry files). */
  appDir: string;
  /** 0 picks a free port. Default 7071, as `func start`. */
  port?: number;
  /** `memory`, or a SQLite file. Default `<appDir>/.devhost/devhost.db`. */
  storage?: StorageOption;
  logLevel?: LogLevel;
  logger?: DevhostLogger;
  /**
   * Request body limit for every door; default FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, else 4 MiB
   * (the Functions host's own default is 100 MB; see README "The devhost").
   */
  maxRequestBodyBytes?: number;
  /** Extensions to start instead of the built-in ones (tests). */
  extensions?: readonly ((services: HostServices) => HostExtension)[];
  /**
   * Refuse to start when any function cannot be served (an unsupported binding, an invalid
   * registration), naming every one. Without it such functions are disabled with a warning and
   * the rest run, as the Functions host does; it refuses only when no function can run.
   */
  strict?: boolean;
}

export interface Devhost {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  app: LoadedApp;
  functions: ReadonlyMap<string, RegisteredFunction>;
  keys: FunctionKeyStore;
  db: DatabaseSync;
  extensions: readonly HostExtension[];
  /** The first extension that is an instance of what `pick` accepts, for tests and tools. */
  extension<T extends HostExtension>(pick: (e: HostExtension) => e is T): T | undefined;
  stop(): Promise<void>;
}

const QUIET_TRIGGERS = new Set(['orchestrationTrigger', 'activityTrigger', 'entityTrigger']);

/** 503 problem+json with `Retry-After`, naming SQLite's error. */
function sendStorageUnavailable(res: ServerResponse, health: StorageHealth): void {
  sendProblem(res, 503, { code: 'StorageUnavailable', detail: health.unavailable().message }, { 'retry-after': String(STORAGE_RETRY_AFTER_SECONDS) });
}

async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const text = await readBodyText(req, limitBytes);
  return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
}

/** A request URL for the log, without keys (`code=` values, the durable rpc base's key segment). */
function redactedUrl(raw: string | undefined): string {
  return (raw ?? '').replace(/([?&]code=)[^&#]*/gi, '$1<redacted>').replace(/(\/runtime\/webhooks\/durabletask\/rpc\/)[^/?#]*/i, '$1<redacted>');
}

/** One line per function, like `func start` prints them; disabled ones say why. */
export function describeFunctions(functions: Iterable<RegisteredFunction>, routes: readonly HttpRoute[], baseUrl: string, disabled: readonly DisabledFunction[] = []): string {
  const lines: string[] = ['Functions:', ''];
  for (const fn of functions) {
    const http = routes.find((r) => r.fn === fn);
    if (http) {
      const methods = http.methods.size > 0 ? [...http.methods].join(',') : 'ALL';
      lines.push(`        ${fn.name}: [${methods}] ${baseUrl}${http.displayRoute} (authLevel=${http.authLevel})`);
    } else {
      lines.push(`        ${fn.name}: ${fn.trigger.type}`);
    }
    lines.push('');
  }
  for (const d of disabled) {
    lines.push(`        ${d.name}: ${d.triggerType ?? 'no trigger'} [${d.cause === 'error' ? 'Disabled: in error' : 'Disabled'}] ${d.reasons.join('; ')}`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * Takes `fn` out of the served set, recording why. Used for what only the extensions can judge
 * (a trigger no extension drives, a binding an extension refuses).
 */
function disableFunction(app: LoadedApp, fn: RegisteredFunction, reasons: string[]): void {
  app.functions.delete(fn.name);
  app.disabled.push({ name: fn.name, triggerType: fn.trigger.type, cause: 'error', reasons });
}

/** The problems behind every function that is in error (not those switched off by a setting). */
function functionErrors(app: LoadedApp): string[] {
  return app.disabled.filter((d) => d.cause === 'error').flatMap((d) => d.reasons);
}

/**
 * Starts the local Functions host for an app folder on 127.0.0.1. Resolves once the app is
 * loaded, the server listens and every extension has started; `stop()` closes the server, lets
 * in-flight work settle, runs `appTerminate` hooks and closes the database.
 */
export async function startDevhost(options: DevhostOptions): Promise<Devhost> {
  const appDir = resolve(options.appDir);
  const logger = options.logger ?? createConsoleLogger(options.logLevel ?? 'info');
  setSystemLogSink((_level, _category, message) => logger.debug(`[worker] ${message}`));
  const app = await loadApp(appDir, { warn: (message) => logger.warn(message) });
  // As the worker's WorkerInitResponse: this locks app.setup() and, with enableHttpStream,
  // starts the library's HTTP proxy (its address comes back as HttpUri).
  const capabilities = await workerCapabilities(app.programmingModel);

  const storage = options.storage ?? join(appDir, '.devhost', 'devhost.db');
  const db = openDatabase(storage, { logger });
  const health = storageHealth(db, logger);
  const keysFile = storage === 'memory' ? undefined : join(dirname(storage), 'keys.json');
  const keys = new FunctionKeyStore(keysFile, [...app.functions.keys()]);

  const routePrefixSetting = app.hostJson.extensions?.http?.routePrefix ?? 'api';
  const prefix = routePrefixSetting.replace(/^\/+|\/+$/g, '') === '' ? '' : `/${routePrefixSetting.replace(/^\/+|\/+$/g, '').toLowerCase()}`;
  // Filled once the extensions have judged the functions (below), before any app request is served.
  const routes: HttpRoute[] = [];
  const envLimit = Number(process.env['FUNCTIONS_REQUEST_BODY_SIZE_LIMIT']);
  const maxRequestBodyBytes = options.maxRequestBodyBytes ?? (Number.isFinite(envLimit) && envLimit > 0 ? envLimit : DEFAULT_REQUEST_BODY_LIMIT_BYTES);

  const extensions: HostExtension[] = [];
  const crashCheck = createCrashPlan(parseCrashPoints(process.env['DEVHOST_CRASH_AFTER']), (point) => {
    logger.error(`crash point reached: ${point.functionName}${point.contains ? `~${point.contains}` : ''}#${point.after}; killing the devhost (DEVHOST_CRASH_AFTER)`);
    process.kill(process.pid, 'SIGKILL');
  });
  const invoke = createInvoker({ app, logger, extensions: () => extensions, quietTriggerTypes: QUIET_TRIGGERS, ...(crashCheck ? { crashCheck } : {}) });
  let baseUrl = '';
  // Extensions may hold functions they indexed before the start-up checks disabled some (the
  // durable catalogue does): a disabled function is refused here, whoever asks.
  const invokeEnabled: Invoker = async (fn, inputs, triggerMetadata, invokeOptions) => {
    if (app.functions.get(fn.name) !== fn) {
      const off = app.disabled.find((d) => d.name === fn.name);
      throw new Error(`The function '${fn.name}' is disabled${off ? `: ${off.reasons.join('; ')}` : ''}`);
    }
    return invoke(fn, inputs, triggerMetadata, invokeOptions);
  };
  const services: HostServices = {
    db,
    functions: app.functions,
    invoke: invokeEnabled,
    hostJson: app.hostJson,
    baseUrl: () => baseUrl,
    logger,
    keys,
    maxRequestBodyBytes,
  };

  const dispatchOptions = {
    routes,
    prefix,
    keys,
    invoke,
    maxRequestBodyBytes,
    logger,
    httpUri: hasCapability(capabilities, HTTP_URI_CAPABILITY) ? capabilities[HTTP_URI_CAPABILITY] : undefined,
    requiresRouteParameters: hasCapability(capabilities, REQUIRES_ROUTE_PARAMETERS_CAPABILITY),
  };

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!keys.authorize('admin', presentedKey(req, url), undefined)) return sendStatus(res, 401);
    const invokeMatch = /^\/admin\/functions\/([^/]+)\/?$/.exec(url.pathname);
    if (invokeMatch) {
      if (req.method !== 'POST') return sendStatus(res, 405, { allow: 'POST' });
      const name = decodeURIComponent(invokeMatch[1] ?? '');
      const fn = [...app.functions.values()].find((f) => f.name.toLowerCase() === name.toLowerCase());
      if (!fn) {
        const off = app.disabled.find((d) => d.name.toLowerCase() === name.toLowerCase());
        return sendJson(res, 404, { error: off ? `'${off.name}' is disabled: ${off.reasons.join('; ')}` : `No function named '${name}'` });
      }
      if (fn.trigger.type === 'httpTrigger') {
        return sendJson(res, 400, { error: `'${fn.name}' is HTTP-triggered; call its route instead` });
      }
      const owner = extensions.find((e) => e.triggerTypes.includes(fn.trigger.type));
      if (!owner?.invokeFromAdmin) {
        return sendJson(res, 400, { error: `'${fn.name}' (${fn.trigger.type}) cannot be invoked through the admin API` });
      }
      let body: unknown;
      try {
        body = await readJsonBody(req, maxRequestBodyBytes);
      } catch (error) {
        if ((error as Error | undefined)?.name === 'RequestTooLargeError') return refuseTooLarge(req, res);
        return sendJson(res, 400, { error: 'The body must be JSON: {"input": "<string>"}' });
      }
      const input = (body as { input?: unknown } | null)?.input;
      await owner.invokeFromAdmin(fn, input === undefined ? undefined : typeof input === 'string' ? input : JSON.stringify(input));
      return sendStatus(res, 202);
    }
    if (url.pathname === '/admin/host/status') {
      if (req.method !== 'GET') return sendStatus(res, 405, { allow: 'GET' });
      const errors = app.disabled.filter((d) => d.cause === 'error').map((d) => `The '${d.name}' function is in error: ${d.reasons.join('; ')}`);
      return sendJson(res, 200, { state: 'Running', version: 'devhost', functions: [...app.functions.keys()], ...(errors.length > 0 ? { errors } : {}) });
    }
    if (url.pathname === '/admin/functions' || url.pathname === '/admin/functions/') {
      if (req.method !== 'GET') return sendStatus(res, 405, { allow: 'GET' });
      return sendJson(res, 200, [
        ...[...app.functions.values()].map((fn) => ({
          name: fn.name,
          trigger: fn.trigger.type,
          route: routes.find((r) => r.fn === fn)?.displayRoute,
          isDisabled: false,
        })),
        // As the host's function list: switched-off functions are listed, functions in error are not.
        ...app.disabled.filter((d) => d.cause === 'setting').map((d) => ({ name: d.name, trigger: d.triggerType, isDisabled: true })),
      ]);
    }
    for (const extension of extensions) {
      if (await extension.handleHttp?.(req, res, url)) return;
    }
    return sendStatus(res, 404);
  }

  /** The `Host` values served; set once the port is known (nothing arrives before that). */
  let ownHosts: ReadonlySet<string> = new Set();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only this devhost's own loopback authority: a DNS-rebinding page or a foreign name gets 421.
    if (!isOwnHost(req, ownHosts)) return sendStatus(res, 421, { connection: 'close' });
    // A declared body over the limit is refused before a byte of it is read, at every door.
    if (declaresTooMuch(req, maxRequestBodyBytes)) return refuseTooLarge(req, res);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', baseUrl);
    } catch {
      return sendStatus(res, 400);
    }
    // Fail closed: while the state store cannot be written, no door takes work (app routes,
    // durable API and RPC, admin), so nothing is acknowledged that is not stored.
    // The host's own APIs take no state-changing request a browser marks as cross-site.
    if (isHostApiPath(url.pathname) && isCrossSiteWrite(req, ownHosts)) return sendStatus(res, 403);
    if (!health.healthy) return sendStorageUnavailable(res, health);
    if (url.pathname.startsWith('/admin/')) return handleAdmin(req, res, url);
    if (await dispatchHttp(dispatchOptions, req, res, url)) return;
    for (const extension of extensions) {
      if (await extension.handleHttp?.(req, res, url)) return;
    }
    sendStatus(res, 404);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      // A store that failed mid-request: the same 503 + Retry-After as before any route runs.
      if ((error as Error)?.name === 'StorageUnavailableError' && !res.headersSent) return sendStorageUnavailable(res, health);
      logger.error(`devhost: request ${req.method} ${redactedUrl(req.url)} failed: ${(error as Error)?.stack ?? String(error)}`);
      sendStatus(res, 500);
    });
  };
  const server: Server = createServer({ keepAlive: true }, onRequest);
  // `Expect: 100-continue`: a request refused on its headers (foreign Host, body declared over
  // the limit) is answered without `100 Continue`, so the client never sends the body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (isOwnHost(req, ownHosts) && !declaresTooMuch(req, maxRequestBodyBytes)) res.writeContinue();
    onRequest(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7071, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;
  ownHosts = ownAuthorities(port);

  // Functions' own clients (durable client, SDKs reaching the devhost) must not go through a proxy.
  const noProxy = process.env['NO_PROXY'] ?? process.env['no_proxy'] ?? '';
  if (!/127\.0\.0\.1/.test(noProxy)) process.env['NO_PROXY'] = [noProxy, '127.0.0.1', 'localhost'].filter(Boolean).join(',');
  process.env['WEBSITE_HOSTNAME'] ??= `127.0.0.1:${port}`;

  const stopExtensions = async (): Promise<void> => {
    for (const extension of [...extensions].reverse()) {
      try {
        await extension.stop();
      } catch (error) {
        logger.error(`devhost: stopping an extension failed: ${String(error)}`);
      }
    }
  };

  try {
    const claimed = new Set<string>();
    for (const factory of options.extensions ?? builtInExtensions) {
      const extension = factory(services);
      extensions.push(extension);
      for (const t of extension.triggerTypes) claimed.add(t);
    }
    for (const fn of [...app.functions.values()]) {
      if (fn.trigger.type !== 'httpTrigger' && !claimed.has(fn.trigger.type)) {
        disableFunction(app, fn, [`function "${fn.name}": no devhost extension serves its trigger type "${fn.trigger.type}"`]);
        continue;
      }
      const bindingTypes = new Set(Object.values(fn.metadata.bindings).map((b) => b.type ?? ''));
      const problems = extensions
        .filter((e) => e.triggerTypes.includes(fn.trigger.type) || e.bindingTypes?.some((t) => bindingTypes.has(t)))
        .flatMap((e) => e.checkFunction?.(fn) ?? []);
      if (problems.length > 0) disableFunction(app, fn, problems);
    }
    const errors = functionErrors(app);
    if (options.strict && errors.length > 0) throw new AppLoadError(errors);
    if (app.functions.size === 0 && app.disabled.length > 0) {
      throw new AppLoadError([
        'no function can run; every registered function is disabled:',
        ...app.disabled.flatMap((d) => (d.cause === 'setting' ? [`function "${d.name}": ${d.reasons.join('; ')}`] : d.reasons)),
      ]);
    }
    routes.push(...buildHttpRoutes(app.functions.values(), prefix));
    for (const d of app.disabled) {
      if (d.cause === 'error') logger.warn(`The '${d.name}' function is in error and is disabled; the rest of the app runs: ${d.reasons.join('; ')}`);
      else logger.info(`Function '${d.name}' is disabled (${d.reasons.join('; ')}).`);
    }
    for (const extension of extensions) await extension.start();
    for (const hook of app.registrations.hooksFor('appStart')) {
      await hook({ hookData: app.registrations.appHookData, appHookData: app.registrations.appHookData, hostVersion: 'devhost' });
    }
  } catch (error) {
    await stopExtensions();
    await new Promise<void>((r) => server.close(() => r()));
    health.close();
    db.close();
    throw error;
  }

  logger.info(describeFunctions(app.functions.values(), routes, baseUrl, app.disabled));
  logger.info(`Host started on ${baseUrl} (storage: ${storage})`);
  for (const fn of app.functions.values()) {
    if (fn.metadata.retryOptions && !RETRY_POLICY_TRIGGERS.has(fn.trigger.type)) {
      logger.warn(`Function '${fn.name}': its retry policy is ignored; in Functions v4 the ${fn.trigger.type} trigger does not apply retry policies (the host ignores it too).`);
    }
  }

  let stopping: Promise<void> | undefined;
  const devhost: Devhost = {
    url: baseUrl,
    port,
    app,
    functions: app.functions,
    keys,
    db,
    extensions,
    extension<T extends HostExtension>(pick: (e: HostExtension) => e is T): T | undefined {
      return extensions.find(pick);
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await stopExtensions();
        for (const hook of app.registrations.hooksFor('appTerminate')) {
          try {
            await hook({ hookData: app.registrations.appHookData, appHookData: app.registrations.appHookData });
          } catch (error) {
            logger.error(`devhost: appTerminate hook failed: ${String(error)}`);
          }
        }
        server.closeAllConnections();
        await closed;
        health.close();
        db.close();
      })();
      return stopping;
    },
  };
  return devhost;
}
