import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LoadedApp } from './app-loader.js';
import type { CoreInvocationContext, FunctionCallback, InvocationOutcome, Invoker, InvokeOptions, RegisteredFunction, RpcParameterBinding, RpcTypedData } from './core-types.js';
import type { HostExtension } from './extension-types.js';
import type { DevhostLogger } from './logger.js';

export interface InvokerOptions {
  app: LoadedApp;
  logger: DevhostLogger;
  /** Looked up per invocation so extensions created after the invoker still serve bindings. */
  extensions: () => readonly HostExtension[];
  /** Trigger types whose per-invocation log line goes to debug instead of info (noisy internals). */
  quietTriggerTypes?: ReadonlySet<string>;
  /** Fault injection (see crash-points.ts): called with each invocation's response before the host sees it. */
  crashCheck?: (functionName: string, response: () => string) => void;
}

function userLogSink(logger: DevhostLogger, fn: string): CoreInvocationContext['log'] {
  return (level, category, message) => {
    const line = `[${fn}] ${message}`;
    if (category === 'system') return logger.debug(line);
    if (level === 'error' || level === 'critical') logger.error(line);
    else if (level === 'warning') logger.warn(line);
    else if (level === 'debug' || level === 'trace') logger.debug(line);
    else logger.info(line);
  };
}

async function runHooks(hooks: readonly ((ctx: Record<string, unknown>) => unknown)[], ctx: Record<string, unknown>): Promise<void> {
  for (const hook of [...hooks]) await hook(ctx);
}

/**
 * Builds the devhost's {@link Invoker}: mirrors the Node worker's invocation handler — core
 * context, `getInvocationModel` → `getArguments` → preInvocation hooks → `invokeFunction` →
 * postInvocation hooks → `getResponse` — and writes one log line per invocation.
 */
export function createInvoker(options: InvokerOptions): Invoker {
  const { app, logger } = options;
  const quiet = options.quietTriggerTypes ?? new Set<string>();

  return async function invoke(
    fn: RegisteredFunction,
    inputs: Record<string, RpcTypedData | null | undefined>,
    triggerMetadata: Record<string, RpcTypedData> = {},
    invokeOptions: InvokeOptions = {},
  ): Promise<InvocationOutcome> {
    const started = performance.now();
    const invocationId = invokeOptions.invocationId ?? randomUUID();
    const inputData: RpcParameterBinding[] = [];
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.direction !== 'in') continue;
      if (name in inputs) {
        inputData.push({ name, data: inputs[name] });
        continue;
      }
      for (const extension of options.extensions()) {
        if (!binding.type || !extension.bindingTypes?.includes(binding.type)) continue;
        if (extension.resolveInput) {
          inputData.push({ name, data: await extension.resolveInput(binding, fn, { inputs, triggerMetadata }) });
          break;
        }
        if (extension.bindingData) {
          const data = extension.bindingData(binding, fn);
          if (data !== undefined) inputData.push({ name, data: { string: data } });
          break;
        }
      }
    }

    const coreCtx: CoreInvocationContext = {
      invocationId,
      request: { invocationId, functionId: fn.name, inputData, triggerMetadata, ...(invokeOptions.retryContext ? { retryContext: invokeOptions.retryContext } : {}) },
      metadata: fn.metadata,
      log: userLogSink(logger, fn.name),
    };

    const registrations = app.registrations;
    const hookData: Record<string, unknown> = {};
    const appHookData = registrations.appHookData;
    let outcomeLabel = 'Succeeded';
    try {
      const model = app.programmingModel.getInvocationModel(coreCtx);
      const { context, inputs: args } = await model.getArguments();

      const preCtx: Record<string, unknown> = {
        hookData,
        appHookData,
        invocationContext: context,
        functionCallback: fn.callback,
        inputs: args,
      };
      coreCtx.state = 'preInvocationHooks';
      await runHooks(registrations.hooksFor('preInvocation'), preCtx);

      coreCtx.state = 'invocation';
      const postCtx: Record<string, unknown> = {
        hookData,
        appHookData,
        invocationContext: context,
        inputs: preCtx['inputs'],
        // The worker starts both at null, not undefined (nodejs-worker InvocationHandler.ts,
        // postInvocContext); a handler that returns nothing leaves result undefined there too.
        result: null,
        error: null,
      };
      try {
        postCtx['result'] = await model.invokeFunction(context, preCtx['inputs'] as unknown[], preCtx['functionCallback'] as FunctionCallback);
      } catch (error) {
        postCtx['error'] = error;
      }
      coreCtx.state = 'postInvocationHooks';
      await runHooks(registrations.hooksFor('postInvocation'), postCtx);
      if (postCtx['error'] !== undefined && postCtx['error'] !== null) throw postCtx['error'];

      const response = await model.getResponse(context, postCtx['result']);
      options.crashCheck?.(fn.name, () => {
        const value = response.returnValue as { json?: unknown; string?: unknown } | null | undefined;
        return typeof value?.json === 'string' ? value.json : typeof value?.string === 'string' ? value.string : JSON.stringify(value ?? null);
      });
      const outputs = new Map<string, RpcTypedData | null | undefined>();
      for (const o of response.outputData ?? []) if (o.name) outputs.set(o.name, o.data);
      const outcome: InvocationOutcome = {
        invocationId,
        returnValue: response.returnValue,
        outputs,
        durationMs: performance.now() - started,
      };
      for (const extension of options.extensions()) await extension.deliverOutputs?.(fn, outcome, { inputs, triggerMetadata });
      return outcome;
    } catch (error) {
      outcomeLabel = 'Failed';
      // Durable triggers report orchestration failures by throwing; those are protocol, not crashes.
      const detail = `Function '${fn.name}' threw (Id=${invocationId}): ${(error as Error)?.stack ?? String(error)}`;
      if (quiet.has(fn.trigger.type)) logger.debug(detail);
      else logger.error(detail);
      throw error;
    } finally {
      const line = `Executed '${fn.name}' (${outcomeLabel}, trigger=${fn.trigger.type}, Id=${invocationId}, Duration=${(performance.now() - started).toFixed(1)}ms)`;
      if (quiet.has(fn.trigger.type)) logger.debug(line);
      else logger.info(line);
    }
  };
}
