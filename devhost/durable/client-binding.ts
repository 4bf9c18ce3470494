/**
 * URLs of the durable HTTP API and the `durableClient` binding data that `df.getClient()` reads
 * (the extension's `OrchestrationClientInputData`). As on Azure, every link carries the Durable
 * extension's system key (`code=<key>`): the creation and management URLs, and
 * `requiredQueryStringParameters` (`code=<key>`, which the SDK appends to the URLs it builds
 * from `baseUrl`).
 *
 * The SDK's rpc calls resolve relative paths against `rpcBaseUrl` and never append
 * `requiredQueryStringParameters` (durable-functions `DurableClient`: `new URL(path,
 * rpcBaseUrl)`), and a base URL's query does not survive that resolution. On Azure the rpc
 * endpoint is a separate listener on the worker's own loopback; here it shares the devhost's
 * port, so the key goes into the rpc base's path instead: `…/durabletask/rpc/<key>/`. The same
 * handler serves both; `durable-http-api.ts` checks the key either way.
 */

export const WEBHOOK_PATH = '/runtime/webhooks/durabletask';
/** First segment under WEBHOOK_PATH of the SDK's rpc base; the next segment is the key. */
export const RPC_SEGMENT = 'rpc';

/** Placeholder the client replaces with an instance id in `managementUrls`. */
const INSTANCE_ID_PLACEHOLDER = 'INSTANCEID';

export interface HubSettings {
  taskHub: string;
  connection: string;
}

/** The management links returned by `createCheckStatusResponse` and the start API. */
export interface ManagementUrls {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  rewindPostUri: string;
  purgeHistoryDeleteUri: string;
  restartPostUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

/** Links for `instanceId` on the host at `origin` (`http://127.0.0.1:7071`), carrying `systemKey`. */
export function managementUrls(origin: string, instanceId: string, hub: HubSettings, systemKey: string): ManagementUrls {
  const instance = `${origin}${WEBHOOK_PATH}/instances/${instanceId === INSTANCE_ID_PLACEHOLDER ? instanceId : encodeURIComponent(instanceId)}`;
  const query = `taskHub=${encodeURIComponent(hub.taskHub)}&connection=${encodeURIComponent(hub.connection)}&code=${encodeURIComponent(systemKey)}`;
  return {
    id: instanceId,
    statusQueryGetUri: `${instance}?${query}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${query}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${query}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${query}`,
    purgeHistoryDeleteUri: `${instance}?${query}`,
    restartPostUri: `${instance}/restart?${query}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${query}`,
    resumePostUri: `${instance}/resume?reason={text}&${query}`,
  };
}

/** The JSON string the core passes as a `durableClient` input. */
export function clientBindingData(origin: string, hub: HubSettings, systemKey: string): string {
  const base = `${origin}${WEBHOOK_PATH}`;
  const code = `code=${encodeURIComponent(systemKey)}`;
  return JSON.stringify({
    taskHubName: hub.taskHub,
    connectionName: hub.connection,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?${code}`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
    },
    managementUrls: managementUrls(origin, INSTANCE_ID_PLACEHOLDER, hub, systemKey),
    baseUrl: base,
    requiredQueryStringParameters: code,
    rpcBaseUrl: `${base}/${RPC_SEGMENT}/${encodeURIComponent(systemKey)}/`,
    httpBaseUrl: base,
  });
}
