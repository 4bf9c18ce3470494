// Durable Agent Pipeline on Azure: one resource group per environment (dev, staging, prod) or per
// managed-application installation. Resources are declared here and in ./modules (no registry
// modules: the build must not need the network). See README.md for what each resource is for and
// what drives its cost.

targetScope = 'resourceGroup'

@description('azd environment name (AZURE_ENV_NAME: letters, digits, hyphens); seeds every resource name and the azd-env-name tag.')
@minLength(1)
@maxLength(24)
param environmentName string

@description('Which deployed environment this is; becomes APP_ENVIRONMENT.')
@allowed(['dev', 'staging', 'prod'])
param appEnvironment string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Extra tags for every resource.')
param tags object = {}

@description('Object id of the deploying person or pipeline (AZURE_PRINCIPAL_ID); gets the operator roles. Empty: none.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

// --- Durable backend ---

@description('Durable Functions backend: the Durable Task Scheduler (default) or Azure Storage.')
@allowed(['durable-task-scheduler', 'azure-storage'])
param durableBackend string = 'durable-task-scheduler'

@allowed(['Consumption', 'Dedicated'])
param schedulerSku string = 'Consumption'

@minValue(1)
param schedulerDedicatedCapacity int = 1

@description('Task hub name (letters and digits: valid for both backends).')
@minLength(3)
@maxLength(45)
param taskHubName string = 'agentpipeline${appEnvironment}'

// --- Function App (Flex Consumption) ---

@allowed([512, 2048, 4096])
param functionInstanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 100

@minValue(0)
param alwaysReadyHttp int = 0

@minValue(0)
param alwaysReadyDurable int = 0

// --- Networking ---

@description('VNet integration with private endpoints for Storage, Service Bus, Key Vault, Azure OpenAI and the scheduler; their public endpoints are closed.')
param enablePrivateNetworking bool = false

param vnetAddressPrefix string = '10.40.0.0/16'
param appSubnetPrefix string = '10.40.0.0/24'
param privateEndpointSubnetPrefix string = '10.40.1.0/24'

// --- Data services ---

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSku string = 'Standard_LRS'

@minValue(1)
@maxValue(365)
param blobDeleteRetentionDays int = 7

@description('Days each audit record is immutable (WORM) in the audit container.')
@minValue(1)
@maxValue(146000)
param auditRetentionDays int = 30

@description('Service Bus tier; private networking needs Premium and forces it.')
@allowed(['Standard', 'Premium'])
param serviceBusSku string = 'Standard'

param agentRequestsQueueName string = 'agent-requests'

@minValue(1)
@maxValue(100)
param agentRequestsMaxDeliveryCount int = 10

param agentRequestsLockDuration string = 'PT1M'

@description('Reply queues tenants name in replyTo (tenant catalog replyQueues).')
param replyQueueNames array = []

@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionDays int = 7

param keyVaultPurgeProtection bool = false

@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// --- Azure OpenAI ---

@allowed(['GlobalStandard', 'Standard', 'DataZoneStandard'])
param openAiDeploymentSku string = 'GlobalStandard'

@description('gpt-4o-mini tokens per minute, in thousands.')
@minValue(1)
param gpt4oMiniCapacity int = 10

@description('gpt-4o tokens per minute, in thousands.')
@minValue(1)
param gpt4oCapacity int = 10

param gpt4oMiniVersion string = '2024-07-18'
param gpt4oVersion string = '2024-11-20'
param openAiApiVersion string = '2024-10-21'

// --- App configuration (shared/config.ts) ---

@description('Accepted token audiences, comma-separated: the API app registration\'s app id URI and/or client id.')
@minLength(1)
param authAudiences string

@description('Entra tenant whose signing keys the app fetches (single-tenant installations); empty: the common endpoint.')
param entraTenantId string = ''

@allowed(['multi', 'single'])
param tenancyMode string = 'multi'

@description('The one tenant slug when tenancyMode is single (managed application).')
param singleTenantId string = ''

@description('Microsoft App ID of the Teams bot; empty: the bot door answers 404.')
param botAppId string = ''

@description('Hosts the http_request tool may reach, comma-separated (exact or *.suffix).')
param toolEgressAllowList string = ''

// --- Names: derived, never hard-coded ---

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'azd-env-name': environmentName, environment: appEnvironment })
var useScheduler = durableBackend == 'durable-task-scheduler'
var names = {
  identity: 'id-${environmentName}-${token}'
  workspace: 'log-${environmentName}-${token}'
  appInsights: 'appi-${environmentName}-${token}'
  storage: take('st${token}${replace(toLower(environmentName), '-', '')}', 24)
  serviceBus: 'sb-${environmentName}-${token}'
  keyVault: take('kv${token}${replace(toLower(environmentName), '-', '')}', 24)
  openAi: 'oai-${environmentName}-${token}'
  scheduler: 'dts-${environmentName}-${token}'
  vnet: 'vnet-${environmentName}-${token}'
  plan: 'plan-${environmentName}-${token}'
  functionApp: 'func-${environmentName}-${token}'
}
var dataContainerName = 'agent-data'
var auditContainerName = 'audit'
var deploymentContainerName = 'app-package'
// With a trailing slash; shared/config.ts strips it.
var loginEndpoint = environment().authentication.loginEndpoint

// Module deployment names are fixed: one deployment of this template per resource group.
module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: names.identity, location: location, tags: allTags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    skuName: storageSku
    dataContainerName: dataContainerName
    auditContainerName: auditContainerName
    auditRetentionDays: auditRetentionDays
    deploymentContainerName: deploymentContainerName
    deleteRetentionDays: blobDeleteRetentionDays
    privateOnly: enablePrivateNetworking
    workspaceId: monitoring.outputs.workspaceId
  }
}

module serviceBus 'modules/service-bus.bicep' = {
  name: 'service-bus'
  params: {
    name: names.serviceBus
    location: location
    tags: allTags
    skuName: enablePrivateNetworking ? 'Premium' : serviceBusSku
    requestsQueueName: agentRequestsQueueName
    maxDeliveryCount: agentRequestsMaxDeliveryCount
    lockDuration: agentRequestsLockDuration
    replyQueueNames: replyQueueNames
    privateOnly: enablePrivateNetworking
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
    enablePurgeProtection: keyVaultPurgeProtection
    privateOnly: enablePrivateNetworking
    workspaceId: monitoring.outputs.workspaceId
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'open-ai'
  params: {
    name: names.openAi
    location: location
    tags: allTags
    deploymentSkuName: openAiDeploymentSku
    gpt4oMiniCapacity: gpt4oMiniCapacity
    gpt4oCapacity: gpt4oCapacity
    gpt4oMiniVersion: gpt4oMiniVersion
    gpt4oVersion: gpt4oVersion
    privateOnly: enablePrivateNetworking
    workspaceId: monitoring.outputs.workspaceId
  }
}

module durableTask 'modules/durable-task.bicep' = if (useScheduler) {
  name: 'durable-task'
  params: {
    name: names.scheduler
    taskHubName: taskHubName
    location: location
    tags: allTags
    skuName: schedulerSku
    dedicatedCapacity: schedulerDedicatedCapacity
    privateOnly: enablePrivateNetworking
  }
}

module network 'modules/network.bicep' = if (enablePrivateNetworking) {
  name: 'network'
  params: {
    name: names.vnet
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
  }
}

// Private endpoints: blob always; queue and table only where the Azure Storage Durable backend
// uses them; the scheduler only when it is the backend.
var storageSuffix = environment().suffixes.storage
var storageId = resourceId('Microsoft.Storage/storageAccounts', names.storage)
var privateLinks = concat(
  [
    { key: 'blob', target: storageId, groupId: 'blob', zone: 'privatelink.blob.${storageSuffix}' }
    { key: 'sb', target: resourceId('Microsoft.ServiceBus/namespaces', names.serviceBus), groupId: 'namespace', zone: 'privatelink.servicebus.windows.net' }
    { key: 'kv', target: resourceId('Microsoft.KeyVault/vaults', names.keyVault), groupId: 'vault', zone: replace(environment().suffixes.keyvaultDns, '.vault.', 'privatelink.vaultcore.') }
    { key: 'oai', target: resourceId('Microsoft.CognitiveServices/accounts', names.openAi), groupId: 'account', zone: 'privatelink.openai.azure.com' }
  ],
  useScheduler
    ? [{ key: 'dts', target: resourceId('Microsoft.DurableTask/schedulers', names.scheduler), groupId: 'scheduler', zone: 'privatelink.durabletask.io' }]
    : [
        { key: 'queue', target: storageId, groupId: 'queue', zone: 'privatelink.queue.${storageSuffix}' }
        { key: 'table', target: storageId, groupId: 'table', zone: 'privatelink.table.${storageSuffix}' }
      ]
)

module privateLink 'modules/private-link.bicep' = [
  for link in (enablePrivateNetworking ? privateLinks : []): {
    name: 'private-link-${link.key}'
    params: {
      name: 'pe-${link.key}-${environmentName}-${token}'
      location: location
      tags: allTags
      targetResourceId: link.target
      groupId: link.groupId
      dnsZoneName: link.zone
      subnetId: network!.outputs.privateEndpointSubnetId
      vnetId: network!.outputs.id
    }
    // Targets are named by resource id (known at the start), so order them explicitly.
    dependsOn: [storage, serviceBus, keyVault, openAi, durableTask]
  }
]

module roleAssignments 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
    storageAccountName: storage.outputs.name
    dataContainerName: storage.outputs.dataContainerName
    serviceBusName: serviceBus.outputs.name
    agentRequestsQueueName: serviceBus.outputs.requestsQueueName
    replyQueueNames: replyQueueNames
    keyVaultName: keyVault.outputs.name
    openAiName: openAi.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    durableBackend: durableBackend
    schedulerName: useScheduler ? durableTask!.outputs.name : ''
    taskHubName: useScheduler ? durableTask!.outputs.taskHubName : taskHubName
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    planName: names.plan
    appName: names.functionApp
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    instanceMemoryMB: functionInstanceMemoryMB
    maximumInstanceCount: functionMaximumInstanceCount
    alwaysReadyHttp: alwaysReadyHttp
    alwaysReadyDurable: alwaysReadyDurable
    appSubnetId: enablePrivateNetworking ? network!.outputs.appSubnetId : ''
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    dataContainerName: storage.outputs.dataContainerName
    auditContainerName: storage.outputs.auditContainerName
    durableBackend: durableBackend
    schedulerEndpoint: useScheduler ? durableTask!.outputs.schedulerEndpoint : ''
    taskHubName: useScheduler ? durableTask!.outputs.taskHubName : taskHubName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    agentRequestsQueueName: serviceBus.outputs.requestsQueueName
    keyVaultUri: keyVault.outputs.vaultUri
    openAiEndpoint: openAi.outputs.openAiEndpoint
    openAiApiVersion: openAiApiVersion
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    workspaceId: monitoring.outputs.workspaceId
    appEnvironment: appEnvironment
    authAudiences: authAudiences
    authAuthority: loginEndpoint
    authJwksUrl: empty(entraTenantId) ? '' : '${loginEndpoint}${entraTenantId}/discovery/v2.0/keys'
    tenancyMode: tenancyMode
    singleTenantId: singleTenantId
    botAppId: botAppId
    toolEgressAllowList: toolEgressAllowList
  }
  // The app must not start before it may read its package and reach its services.
  dependsOn: [roleAssignments, privateLink]
}

// Outputs: names and public endpoints only (azd stores them in the environment); no key,
// connection string or token.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_DATA_CONTAINER string = storage.outputs.dataContainerName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.openAiEndpoint
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
