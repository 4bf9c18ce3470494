// prod: private endpoints for every data service (public endpoints closed), zone-redundant
// storage, always-ready instances for both groups, purge protection on the vault.
using '../main.bicep'

param appEnvironment = 'prod'

// Values that come from the pipeline or azd environment (read when the file is built).
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'agent-pipeline-prod')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
// The API app registration's app id URI (and/or client id), comma-separated.
param authAudiences = readEnvironmentVariable('AUTH_AUDIENCES', 'api://durable-agent-pipeline-prod')
param botAppId = readEnvironmentVariable('BOT_APP_ID', '')

param durableBackend = 'durable-task-scheduler'
param schedulerSku = 'Consumption'

param functionInstanceMemoryMB = 2048
param functionMaximumInstanceCount = 200
param alwaysReadyHttp = 1
param alwaysReadyDurable = 1

param enablePrivateNetworking = true

param storageSku = 'Standard_ZRS'
param blobDeleteRetentionDays = 30
param auditRetentionDays = 2555
param serviceBusSku = 'Premium'
param replyQueueNames = []
param keyVaultSoftDeleteRetentionDays = 90
param keyVaultPurgeProtection = true
param logRetentionDays = 90

param openAiDeploymentSku = 'GlobalStandard'
param gpt4oMiniCapacity = 100
param gpt4oCapacity = 50
