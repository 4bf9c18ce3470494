// The Function App on Flex Consumption (Node 22) and its app settings. Every connection is
// identity-based through the one user-assigned identity: no key, SAS or secret-bearing
// connection string is set. The app's own settings (APP_ENVIRONMENT onwards) are the ones
// shared/config.ts parses; tests/infra/app-settings.test.ts checks them against that schema.

param planName string
param appName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID and every __clientId).')
param identityClientId string

@description('Instance memory in MB; the plan bills GB-seconds of it.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Always-ready instances for the http group (billed while idle; removes cold starts on the doors).')
@minValue(0)
param alwaysReadyHttp int

@description('Always-ready instances for the durable group (orchestrations, activities, entities).')
@minValue(0)
param alwaysReadyDurable int

@description('Subnet for outbound VNet integration; empty: no VNet.')
param appSubnetId string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param dataContainerName string
param auditContainerName string

@allowed(['durable-task-scheduler', 'azure-storage'])
param durableBackend string
param schedulerEndpoint string
param taskHubName string

param serviceBusNamespace string
param agentRequestsQueueName string
param keyVaultUri string
param openAiEndpoint string
param openAiApiVersion string
param appInsightsConnectionString string
param workspaceId string

@allowed(['dev', 'staging', 'prod'])
param appEnvironment string
param authAudiences string
param authAuthority string
param authJwksUrl string

@allowed(['multi', 'single'])
param tenancyMode string
param singleTenantId string
param botAppId string
param toolEgressAllowList string

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

var alwaysReady = concat(
  alwaysReadyHttp > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttp }] : [],
  alwaysReadyDurable > 0 ? [{ name: 'durable', instanceCount: alwaysReadyDurable }] : []
)

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Inbound stays public: webhooks, the runs API and Teams reach the app from the internet.
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      runtime: { name: 'node', version: '22' }
    }
  }
}

// No basic (user/password) publishing: azd and CI deploy with Entra tokens.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

var hostSettings = {
  // The host's own storage (leases, timers, keys), identity-based.
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // functions/agent-requests.ts: connection 'ServiceBusConnection'.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // host.json hubName %DURABLE_TASK_HUB_NAME%.
  DURABLE_TASK_HUB_NAME: taskHubName
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// host.json selects azureManaged (the scheduler). The Azure Storage backend is chosen by
// overriding that path with app settings, as the Functions host allows, and it then uses the
// host's identity-based AzureWebJobsStorage connection.
var durableSettings = durableBackend == 'durable-task-scheduler'
  ? {
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
    }
  : {
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'AzureStorage'
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionName: 'AzureWebJobsStorage'
    }

// shared/config.ts settings for a deployed environment.
var appConfigSettings = {
  APP_ENVIRONMENT: appEnvironment
  AZURE_CLIENT_ID: identityClientId
  STORAGE_BLOB_ACCOUNT_URL: storageBlobEndpoint
  STORAGE_CONTAINER: dataContainerName
  AUDIT_CONTAINER: auditContainerName
  MODEL_PROVIDER: 'azure-openai'
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_API_VERSION: openAiApiVersion
  AGENT_REQUESTS_QUEUE: agentRequestsQueueName
  SERVICEBUS_FULLY_QUALIFIED_NAMESPACE: serviceBusNamespace
  TENANCY_MODE: tenancyMode
  TENANT_CATALOG_SOURCE: 'blob'
  BATCH_SCHEDULES_SOURCE: 'blob'
  AUTH_AUTHORITY: authAuthority
  AUTH_AUDIENCES: authAudiences
  SECRETS_PROVIDER: 'key-vault'
  KEY_VAULT_URL: keyVaultUri
  BOT_CONNECTOR_TOKEN_SOURCE: 'identity'
  TOOL_EGRESS_ALLOW_LIST: toolEgressAllowList
}

var optionalSettings = union(
  tenancyMode == 'single' ? { SINGLE_TENANT_ID: singleTenantId } : {},
  empty(botAppId) ? {} : { BOT_APP_ID: botAppId },
  empty(authJwksUrl) ? {} : { AUTH_JWKS_URL: authJwksUrl }
)

resource appSettings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, durableSettings, appConfigSettings, optionalSettings)
}

// Preview API on purpose: the only GA version (2016-09-01) is the legacy shape that cannot name a
// setting or target a workspace from a resource scope.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'FunctionAppLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
