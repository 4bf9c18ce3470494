// Log Analytics + Application Insights. Local (instrumentation-key) ingestion is disabled, so
// telemetry is accepted only with an Entra token: the app identity gets Monitoring Metrics
// Publisher on the component (see role-assignments.bicep).

@description('Log Analytics workspace name.')
param workspaceName string

@description('Application Insights component name.')
param appInsightsName string

param location string
param tags object

@description('Days Log Analytics keeps data; the main driver of its cost after ingestion volume.')
@minValue(30)
@maxValue(730)
param retentionInDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
    features: {
      // Queries must use resource-context RBAC; no shared workspace keys are needed by anything here.
      enableLogAccessUsingOnlyResourcePermissions: true
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    RetentionInDays: retentionInDays
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// The connection string names the component (instrumentation key + ingestion endpoint); with
// local auth disabled it grants nothing without an Entra token, so it is not a secret. It is
// passed to the Function App only and deliberately not a deployment output of main.bicep.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
