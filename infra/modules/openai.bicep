// Azure OpenAI with the model deployments the shipped agents name (agents/*.yaml
// `model.deployments`: gpt-4o-mini first, gpt-4o as fallback). Local (key) auth is disabled; the
// custom subdomain is what Entra token auth requires.

param name string
param location string
param tags object

@description('Deployment SKU: GlobalStandard (pay per token, global routing) or Standard (regional).')
@allowed(['GlobalStandard', 'Standard', 'DataZoneStandard'])
param deploymentSkuName string

@description('gpt-4o-mini capacity, in thousands of tokens per minute.')
@minValue(1)
param gpt4oMiniCapacity int

@description('gpt-4o capacity, in thousands of tokens per minute.')
@minValue(1)
param gpt4oCapacity int

param gpt4oMiniVersion string
param gpt4oVersion string
param privateOnly bool
param workspaceId string

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: { name: 'S0' }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: privateOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateOnly ? 'Deny' : 'Allow'
    }
  }
}

resource gpt4oMini 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: 'gpt-4o-mini'
  sku: { name: deploymentSkuName, capacity: gpt4oMiniCapacity }
  properties: {
    model: { format: 'OpenAI', name: 'gpt-4o-mini', version: gpt4oMiniVersion }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
}

resource gpt4o 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: 'gpt-4o'
  sku: { name: deploymentSkuName, capacity: gpt4oCapacity }
  properties: {
    model: { format: 'OpenAI', name: 'gpt-4o', version: gpt4oVersion }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
  // The service rejects concurrent deployment writes on one account.
  dependsOn: [gpt4oMini]
}

// Preview API on purpose: the only GA version (2016-09-01) is the legacy shape that cannot name a
// setting or target a workspace from a resource scope.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'Audit', enabled: true }
      { category: 'RequestResponse', enabled: true }
    ]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output id string = account.id
output name string = account.name
output openAiEndpoint string = account.properties.endpoint
