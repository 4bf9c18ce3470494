// Key Vault for webhook signing secrets (tenant catalog `secretRef`). Access is RBAC only (no
// access policies); soft delete always on, purge protection per environment (on in prod: a
// deleted secret can then not be purged before the retention ends, not even by an owner).

param name string
param location string
param tags object

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

param enablePurgeProtection bool
param privateOnly bool
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The service refuses `false` once set and treats null as off, so never send `false`.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: privateOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateOnly ? 'Deny' : 'Allow'
      bypass: 'None'
    }
  }
}

// Preview API on purpose: the only GA version (2016-09-01) is the legacy shape that cannot name a
// setting or target a workspace from a resource scope.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'AuditEvent', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output id string = vault.id
output name string = vault.name
output vaultUri string = vault.properties.vaultUri
