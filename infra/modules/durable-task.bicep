// Durable Task Scheduler (scheduler + task hub): the default Durable backend (host.json
// storageProvider `azureManaged`). Access is Entra only (Durable Task Data Contributor).

param name string
param taskHubName string
param location string
param tags object

@allowed(['Consumption', 'Dedicated'])
param skuName string

@description('Capacity units; Dedicated only.')
@minValue(1)
param dedicatedCapacity int

param privateOnly bool

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // Public mode: every address may try, identity decides (an empty list would deny all).
    // Private mode: the public endpoint is closed and the private endpoint is the only way in.
    ipAllowlist: privateOnly ? [] : ['0.0.0.0/0']
    publicNetworkAccess: privateOnly ? 'Disabled' : 'Enabled'
    sku: {
      name: skuName
      capacity: skuName == 'Dedicated' ? dedicatedCapacity : null
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2026-02-01' = {
  parent: scheduler
  name: taskHubName
  properties: {}
}

output id string = scheduler.id
output name string = scheduler.name
output taskHubId string = taskHub.id
output taskHubName string = taskHub.name
output schedulerEndpoint string = scheduler.properties.endpoint
