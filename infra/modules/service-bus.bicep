// Service Bus namespace: the agent-requests queue (the queue door) and the reply queues that
// tenants name in `replyTo` (tenant catalog `replyQueues`). Local (SAS) auth is disabled.

param name string
param location string
param tags object

@description('Premium is required for private endpoints; Standard otherwise.')
@allowed(['Standard', 'Premium'])
param skuName string

@description('Queue the agentRequests trigger reads (AGENT_REQUESTS_QUEUE).')
param requestsQueueName string

@description('Deliveries before a message is dead-lettered (the handler dead-letters invalid messages itself at once).')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int

@description('Peek-lock duration (ISO 8601, at most PT5M); the host renews locks up to maxAutoLockRenewalDuration.')
param lockDuration string

@description('Reply queues to create, one per tenant system that reads results.')
param replyQueueNames array

param privateOnly bool
param workspaceId string

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
    capacity: skuName == 'Premium' ? 1 : null
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateOnly ? 'Disabled' : 'Enabled'
  }
}

resource requestsQueue 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = {
  parent: namespace
  name: requestsQueueName
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

resource replyQueues 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = [
  for queueName in replyQueueNames: {
    parent: namespace
    name: queueName
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

// Preview API on purpose: the only GA version (2016-09-01) is the legacy shape that cannot name a
// setting or target a workspace from a resource scope.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'OperationalLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output id string = namespace.id
output name string = namespace.name
output requestsQueueName string = requestsQueue.name
// Host name only (`<ns>.servicebus.windows.net` in the public cloud), derived from the endpoint
// so sovereign clouds work: the trigger's __fullyQualifiedNamespace and the reply publisher want it.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
