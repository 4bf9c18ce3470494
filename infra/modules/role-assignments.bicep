// Every role the app identity holds, each scoped as narrowly as its user allows, and the two
// data-plane roles the deploying principal needs to operate the app. Role definition ids are the
// built-in roles' fixed GUIDs (the same in every tenant).

param appPrincipalId string

@description('Object id of the person or pipeline running the deployment; empty: no operator roles.')
param deployerPrincipalId string

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string

param storageAccountName string
param dataContainerName string
param serviceBusName string
param agentRequestsQueueName string
param replyQueueNames array
param keyVaultName string
param openAiName string
param appInsightsName string

@allowed(['durable-task-scheduler', 'azure-storage'])
param durableBackend string
param schedulerName string
param taskHubName string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

var useScheduler = durableBackend == 'durable-task-scheduler'

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' existing = {
  parent: storage
  name: 'default'
}

resource dataContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: dataContainerName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2026-01-01' existing = {
  name: serviceBusName
}

resource requestsQueue 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' existing = {
  parent: serviceBus
  name: agentRequestsQueueName
}

resource replyQueues 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' existing = [
  for queueName in replyQueueNames: {
    parent: serviceBus
    name: queueName
  }
]

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: keyVaultName
}

resource openAi 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = {
  name: openAiName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' existing = if (useScheduler) {
  name: schedulerName
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2026-02-01' existing = if (useScheduler) {
  parent: scheduler
  name: taskHubName
}

// Blob data owner on the account: the Functions host's AzureWebJobsStorage (leases, timer
// locks, host keys) needs owner per the Functions identity guidance, Flex Consumption reads the
// package from the deployment container, and shared/storage/azure-blob-store.ts reads and
// writes the agent-data container (runs, conversations, tenant catalog, schedules).
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Queues: only the Durable Azure Storage backend (its control and work-item queues) uses them.
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useScheduler) {
  name: guid(storage.id, appPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Tables: only the Durable Azure Storage backend (instances and history tables) uses them.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useScheduler) {
  name: guid(storage.id, appPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Receive (peek-lock, complete, dead-letter) on agent-requests: the agentRequests Service Bus
// trigger (functions/agent-requests.ts, connection ServiceBusConnection) and its settlement.
resource appRequestsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestsQueue.id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Send on each reply queue: shared/queue/reply-publisher.ts publishes run results there
// (SERVICEBUS_FULLY_QUALIFIED_NAMESPACE); scoped per queue so no other queue can be written.
resource appReplySenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in replyQueueNames: {
    name: guid(replyQueues[i].id, appPrincipalId, roles.serviceBusDataSender)
    scope: replyQueues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Read secret values: shared/auth/key-vault-secret-provider.ts (webhook signing secrets).
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Inference: the model gateway (shared/model) calls chat completions with an Entra token.
resource appOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(openAi.id, appPrincipalId, roles.cognitiveServicesOpenAiUser)
  scope: openAi
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesOpenAiUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry ingestion with Entra (APPLICATIONINSIGHTS_AUTHENTICATION_STRING): the host and the
// worker's Application Insights exporter; local auth is off, so without it nothing is accepted.
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Orchestrations, activities, entities and the durable client (runs API status, cancel, approvals)
// through DURABLE_TASK_SCHEDULER_CONNECTION_STRING; scoped to the app's own task hub.
resource appDurableTaskContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useScheduler) {
  name: guid(taskHub.id, appPrincipalId, roles.durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Operator: upload tenant records (control-plane/tenants/<id>.yaml) and schedules to agent-data.
// azd itself deploys the package through the Function App's publish endpoint with the deployer's
// ARM rights, so it needs no data-plane role of its own.
resource deployerDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(dataContainer.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: dataContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// Operator: set and rotate webhook signing secrets.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
