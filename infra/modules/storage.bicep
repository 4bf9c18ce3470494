// One Storage account for the Functions host (AzureWebJobsStorage), the Flex Consumption
// deployment package container and the app's own data (agent-data: runs, conversations, tenant
// catalog, schedules). Shared keys are disabled: every client, the platform included, uses Entra.

param name string
param location string
param tags object

@description('Replication: LRS for dev, ZRS where a zone outage must not stop the app.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param skuName string

@description('Container of the app data (STORAGE_CONTAINER).')
param dataContainerName string

@description('Container of the audit trail (AUDIT_CONTAINER): write-once blobs under a time-based immutability policy.')
param auditContainerName string

@description('Days an audit record cannot be changed or deleted (container-level WORM retention).')
@minValue(1)
@maxValue(146000)
param auditRetentionDays int

@description('Container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Days deleted blobs and containers can be restored.')
@minValue(1)
@maxValue(365)
param deleteRetentionDays int

@description('When true, only private endpoints reach the account.')
param privateOnly bool

param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: privateOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      // Public access is identity-gated (no keys); private mode closes the public endpoint too.
      defaultAction: privateOnly ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
    containerDeleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
  }
}

resource dataContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: dataContainerName
  properties: { publicAccess: 'None' }
}

// The audit trail (shared/audit/): the app writes each blob once (if-none-match) and never
// changes it, so a time-based retention policy holds: no record can be overwritten or deleted
// until its retention ends, not even by the app. The policy is created unlocked; locking it
// (irreversible, what SEC 17a-4-style retention needs) is an operator step: see infra/README.md.
resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: auditContainerName
  properties: { publicAccess: 'None' }
}

resource auditImmutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2025-01-01' = {
  parent: auditContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: false
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// Preview API on purpose: the only GA version (2016-09-01) is the legacy shape that cannot name a
// setting or target a workspace from a resource scope.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
    metrics: [{ category: 'Transaction', enabled: true }]
  }
}

output id string = account.id
output name string = account.name
output dataContainerName string = dataContainer.name
output auditContainerName string = auditContainer.name
output deploymentContainerName string = deploymentContainer.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
