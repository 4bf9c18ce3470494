// The one user-assigned managed identity the Function App runs as. User-assigned (not
// system-assigned) so role assignments exist before the app starts and survive re-creating it.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
