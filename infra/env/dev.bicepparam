// dev: smallest footprint, public endpoints (identity-gated), nothing always-ready.
using '../main.bicep'

param appEnvironment = 'dev'

// Values that come from the pipeline or azd environment (read when the file is built).
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'agent-pipeline-dev')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
// The API app registration's app id URI (and/or client id), comma-separated.
param authAudiences = readEnvironmentVariable('AUTH_AUDIENCES', 'api://durable-agent-pipeline-dev')
param botAppId = readEnvironmentVariable('BOT_APP_ID', '')

param durableBackend = 'durable-task-scheduler'
param schedulerSku = 'Consumption'

param functionInstanceMemoryMB = 2048
param functionMaximumInstanceCount = 40
param alwaysReadyHttp = 0
param alwaysReadyDurable = 0

param enablePrivateNetworking = false

param storageSku = 'Standard_LRS'
param blobDeleteRetentionDays = 7
param auditRetentionDays = 7
param serviceBusSku = 'Standard'
param replyQueueNames = ['contoso-replies', 'fabrikam-replies']
param keyVaultSoftDeleteRetentionDays = 7
param keyVaultPurgeProtection = false
param logRetentionDays = 30

param openAiDeploymentSku = 'GlobalStandard'
param gpt4oMiniCapacity = 10
param gpt4oCapacity = 10
