/**
 * URLs of the durable HTTP API and the `durableClient` binding data that `df.getClient()` reads
 * (the extension's `OrchestrationClientInputData`). The same handler serves the public
 * `/runtime/webhooks/durabletask/...` API and the SDK's rpc calls, so `rpcBaseUrl` is the webhook
 * base with a trailing slash. The devhost asks for no system key (`requiredQueryStringParameters`
 * is empty), as `func start` does.
 */

export const WEBHOOK_PATH = '/runtime/webhooks/durabletask';

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

/** Links for `instanceId` on the host at `origin` (`http://127.0.0.1:7071`). */
export function managementUrls(origin: string, instanceId: string, hub: HubSettings): ManagementUrls {
  const instance = `${origin}${WEBHOOK_PATH}/instances/${instanceId === INSTANCE_ID_PLACEHOLDER ? instanceId : encodeURIComponent(instanceId)}`;
  const query = `taskHub=${encodeURIComponent(hub.taskHub)}&connection=${encodeURIComponent(hub.connection)}`;
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
export function clientBindingData(origin: string, hub: HubSettings): string {
  const base = `${origin}${WEBHOOK_PATH}`;
  return JSON.stringify({
    taskHubName: hub.taskHub,
    connectionName: hub.connection,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}`,
    },
    managementUrls: managementUrls(origin, INSTANCE_ID_PLACEHOLDER, hub),
    baseUrl: base,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${base}/`,
    httpBaseUrl: base,
  });
}
