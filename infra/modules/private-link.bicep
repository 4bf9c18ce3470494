// One private endpoint for one sub-resource of a service, with its private DNS zone linked to
// the VNet, so the service's usual host name resolves to the private address from the app.

@description('Private endpoint name.')
param name string
param location string
param tags object

@description('Resource the endpoint connects to.')
param targetResourceId string

@description('Private Link sub-resource (blob, queue, table, namespace, vault, account, scheduler).')
param groupId string

@description('Private DNS zone of that sub-resource, such as privatelink.blob.core.windows.net.')
param dnsZoneName string

param subnetId string
param vnetId string

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: dnsZoneName
  location: 'global'
  tags: tags
}

resource zoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: 'vnet'
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: { id: vnetId }
    registrationEnabled: false
  }
}

resource endpoint 'Microsoft.Network/privateEndpoints@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      {
        name: groupId
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [groupId]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      { name: groupId, properties: { privateDnsZoneId: zone.id } }
    ]
  }
}
