// staging: production-like sizing and one always-ready http instance, public endpoints
// (identity-gated) to keep the Premium Service Bus cost for prod only.
using '../main.bicep'

param appEnvironment = 'staging'

// Values that come from the pipeline or azd environment (read when the file is built).
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'agent-pipeline-staging')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
// The API app registration's app id URI (and/or client id), comma-separated.
param authAudiences = readEnvironmentVariable('AUTH_AUDIENCES', 'api://durable-agent-pipeline-staging')
param botAppId = readEnvironmentVariable('BOT_APP_ID', '')

param durableBackend = 'durable-task-scheduler'
param schedulerSku = 'Consumption'

param functionInstanceMemoryMB = 2048
param functionMaximumInstanceCount = 100
param alwaysReadyHttp = 1
param alwaysReadyDurable = 0

param enablePrivateNetworking = false

param storageSku = 'Standard_ZRS'
param blobDeleteRetentionDays = 14
param auditRetentionDays = 90
param serviceBusSku = 'Standard'
param replyQueueNames = []
param keyVaultSoftDeleteRetentionDays = 30
param keyVaultPurgeProtection = false
param logRetentionDays = 60

param openAiDeploymentSku = 'GlobalStandard'
param gpt4oMiniCapacity = 30
param gpt4oCapacity = 30
