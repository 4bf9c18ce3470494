import { describe, expect, it } from 'vitest';
import { deployedOutputs, type DeployedResource } from './arm-expressions.js';
import { ENVIRONMENTS, infra, ofType, props, resourcesFor, single, skipReason, templateOf, valuesFor, type Json } from './infra-kit.js';

// What the compiled infra/main.bicep deploys per environment, read from the ARM JSON the real
// compiler produced (modules expanded, conditions and loops applied).

const ROLES = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402',
};

/** Role definition GUID → scopes it is assigned at. */
function roleAssignments(resources: ReturnType<typeof resourcesFor>): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const r of ofType(resources, 'Microsoft.Authorization/roleAssignments')) {
    const p = props(r);
    const guid = String(p.roleDefinitionId).split('/').pop() ?? '';
    map.set(guid, [...(map.get(guid) ?? []), String(r.body.scope)]);
  }
  return map;
}

/** `/providers/Microsoft.Storage/storageAccounts/x/blobServices/default` is of type Microsoft.Storage/storageAccounts/blobServices. */
function resourceIdOfType(id: string, type: string): boolean {
  const [namespace, ...types] = type.split('/');
  return new RegExp(`/providers/${namespace?.replace(/\./g, '\\.')}/${types.map((t) => `${t}/[^/]+`).join('/')}$`, 'i').test(id);
}

const PRIVATE_GROUPS_WITH_SCHEDULER = ['account', 'blob', 'namespace', 'scheduler', 'vault'];

describe.skipIf(!infra)(`compiled template${skipReason ? ` (${skipReason})` : ''}`, () => {
  it('compiles to ARM languageVersion 1.0 (managed applications need it)', () => {
    expect(templateOf().languageVersion ?? '1.0').toBe('1.0');
  });

  for (const env of ENVIRONMENTS) {
    describe(env, () => {
      const resources = () => resourcesFor(env);

      it('Function App on Flex Consumption (FC1), Node 22, user-assigned identity, package from blob by identity', () => {
        const plan = single(resources(), 'Microsoft.Web/serverfarms');
        expect(plan.body.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
        const site = single(resources(), 'Microsoft.Web/sites');
        expect(site.body.kind).toBe('functionapp,linux');
        expect((site.body.identity as Json).type).toBe('UserAssigned');
        const config = props(site).functionAppConfig as Json;
        expect(config.runtime).toEqual({ name: 'node', version: '22' });
        const storage = (config.deployment as Json).storage as Json;
        expect(storage.type).toBe('blobContainer');
        expect((storage.authentication as Json).type).toBe('UserAssignedIdentity');
        expect(props(site).httpsOnly).toBe(true);
        const scale = config.scaleAndConcurrency as Json;
        const values = valuesFor(env);
        expect(scale.maximumInstanceCount).toBe(values.functionMaximumInstanceCount);
        expect(scale.instanceMemoryMB).toBe(values.functionInstanceMemoryMB);
        const ready = scale.alwaysReady as { name: string; instanceCount: number }[];
        expect(ready.find((g) => g.name === 'http')?.instanceCount ?? 0).toBe(values.alwaysReadyHttp);
        expect(ready.find((g) => g.name === 'durable')?.instanceCount ?? 0).toBe(values.alwaysReadyDurable);
        for (const policy of ofType(resources(), 'Microsoft.Web/sites/basicPublishingCredentialsPolicies')) expect(props(policy).allow).toBe(false);
      });

      it('Storage: shared keys off, TLS 1.2, no public blob access, agent-data and package containers', () => {
        const account = single(resources(), 'Microsoft.Storage/storageAccounts');
        expect(props(account).allowSharedKeyAccess).toBe(false);
        expect(props(account).minimumTlsVersion).toBe('TLS1_2');
        expect(props(account).allowBlobPublicAccess).toBe(false);
        const containers = ofType(resources(), 'Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => c.name.split('/').pop());
        expect(containers).toEqual(expect.arrayContaining(['agent-data', 'app-package', 'audit']));
      });

      it('the audit container is WORM: a time-based retention policy of this environment\'s days, and the app is told its name', () => {
        const [policy, ...more] = ofType(resources(), 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies');
        expect(more).toEqual([]);
        expect(policy?.name.split('/').slice(-2)).toEqual(['audit', 'default']);
        expect(props(policy as DeployedResource).immutabilityPeriodSinceCreationInDays).toBe(valuesFor(env).auditRetentionDays);
        expect(props(policy as DeployedResource).allowProtectedAppendWrites).toBe(false);
      });

      it('local (key) auth off on Azure OpenAI, Application Insights, Log Analytics and Service Bus', () => {
        expect(props(single(resources(), 'Microsoft.CognitiveServices/accounts')).disableLocalAuth).toBe(true);
        expect(props(single(resources(), 'Microsoft.Insights/components')).DisableLocalAuth).toBe(true);
        expect((props(single(resources(), 'Microsoft.OperationalInsights/workspaces')).features as Json).disableLocalAuth).toBe(true);
        expect(props(single(resources(), 'Microsoft.ServiceBus/namespaces')).disableLocalAuth).toBe(true);
      });

      it('Azure OpenAI has the deployments the shipped agents name, with this environment\'s capacity', () => {
        const deployments = ofType(resources(), 'Microsoft.CognitiveServices/accounts/deployments');
        const byName = Object.fromEntries(deployments.map((d) => [d.name.split('/').pop(), (d.body.sku as Json).capacity]));
        expect(byName).toEqual({ 'gpt-4o-mini': valuesFor(env).gpt4oMiniCapacity, 'gpt-4o': valuesFor(env).gpt4oCapacity });
      });

      it('Service Bus: agent-requests with dead-lettering, and the reply queues of the parameter file', () => {
        const queues = ofType(resources(), 'Microsoft.ServiceBus/namespaces/queues');
        const requests = queues.find((q) => q.name.endsWith('/agent-requests'));
        expect(requests).toBeDefined();
        expect(props(requests!).deadLetteringOnMessageExpiration).toBe(true);
        expect(props(requests!).maxDeliveryCount).toBeGreaterThan(0);
        const replies = queues.filter((q) => q !== requests).map((q) => q.name.split('/').pop());
        expect(replies).toEqual(valuesFor(env).replyQueueNames);
      });

      it('Key Vault: RBAC, soft delete; purge protection exactly in prod', () => {
        const vault = props(single(resources(), 'Microsoft.KeyVault/vaults'));
        expect(vault.enableRbacAuthorization).toBe(true);
        expect(vault.enableSoftDelete).toBe(true);
        expect(vault.accessPolicies).toBeUndefined();
        expect(vault.enablePurgeProtection ?? false).toBe(env === 'prod');
      });

      it('the app identity holds exactly the roles the code and host use, as built-in role ids', () => {
        const roles = roleAssignments(resources());
        const expected = [ROLES.storageBlobDataOwner, ROLES.serviceBusDataReceiver, ROLES.keyVaultSecretsUser, ROLES.cognitiveServicesOpenAiUser, ROLES.monitoringMetricsPublisher, ROLES.durableTaskDataContributor];
        if ((valuesFor(env).replyQueueNames as string[]).length > 0) expected.push(ROLES.serviceBusDataSender);
        expect([...roles.keys()].sort()).toEqual(expected.sort());
        // Scopes are narrow: the requests queue, the task hub.
        expect(roles.get(ROLES.serviceBusDataReceiver)?.[0]).toMatch(/\/queues\/agent-requests$/i);
        expect(roles.get(ROLES.durableTaskDataContributor)?.[0]).toMatch(/\/taskHubs\//i);
        for (const r of ofType(resources(), 'Microsoft.Authorization/roleAssignments')) {
          expect(String(props(r).roleDefinitionId)).toMatch(/\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/);
          expect(props(r).principalType).toBe('ServicePrincipal');
        }
      });

      it('tags: azd-env-name and environment everywhere; the site is the azd service "api"', () => {
        for (const r of resources().filter((x) => x.body.tags !== undefined)) {
          expect(r.body.tags).toMatchObject({ 'azd-env-name': valuesFor(env).environmentName, environment: env });
        }
        expect(single(resources(), 'Microsoft.Web/sites').body.tags).toMatchObject({ 'azd-service-name': 'api' });
      });

      it('diagnostic settings send the app, Service Bus, Key Vault, OpenAI and blob logs to Log Analytics', () => {
        const scopes = ofType(resources(), 'Microsoft.Insights/diagnosticSettings').map((d) => String(d.body.scope));
        for (const type of ['Microsoft.Web/sites', 'Microsoft.ServiceBus/namespaces', 'Microsoft.KeyVault/vaults', 'Microsoft.CognitiveServices/accounts', 'Microsoft.Storage/storageAccounts/blobServices']) {
          expect(scopes.some((s) => resourceIdOfType(s, type))).toBe(true);
        }
        for (const d of ofType(resources(), 'Microsoft.Insights/diagnosticSettings')) expect(props(d).workspaceId).toMatch(/Microsoft\.OperationalInsights\/workspaces/);
      });
    });
  }

  it('the Azure Storage backend: no scheduler, host queues and tables granted instead', () => {
    const resources = resourcesFor('dev', { durableBackend: 'azure-storage' });
    expect(ofType(resources, 'Microsoft.DurableTask/schedulers')).toHaveLength(0);
    const roles = roleAssignments(resources);
    expect(roles.has(ROLES.storageQueueDataContributor)).toBe(true);
    expect(roles.has(ROLES.storageTableDataContributor)).toBe(true);
    expect(roles.has(ROLES.durableTaskDataContributor)).toBe(false);
  });

  it('the deploying principal gets only the operator roles: tenant records in agent-data, webhook secrets', () => {
    const resources = resourcesFor('dev', { deployerPrincipalId: '22222222-2222-4222-8222-222222222222' });
    const deployer = ofType(resources, 'Microsoft.Authorization/roleAssignments').filter((r) => props(r).principalId === '22222222-2222-4222-8222-222222222222');
    const byRole = Object.fromEntries(deployer.map((r) => [String(props(r).roleDefinitionId).split('/').pop(), String(r.body.scope)]));
    expect(Object.keys(byRole).sort()).toEqual([ROLES.storageBlobDataContributor, ROLES.keyVaultSecretsOfficer].sort());
    expect(byRole[ROLES.storageBlobDataContributor]).toMatch(/\/containers\/agent-data$/);
  });

  it('prod (VNet on): private endpoints and DNS zones for Storage, Service Bus, Key Vault, OpenAI and the scheduler; public access closed', () => {
    const resources = resourcesFor('prod');
    const groups = ofType(resources, 'Microsoft.Network/privateEndpoints').map((pe) => ((props(pe).privateLinkServiceConnections as Json[])[0]?.properties as Json).groupIds);
    expect(groups.flat().sort()).toEqual(PRIVATE_GROUPS_WITH_SCHEDULER);
    expect(ofType(resources, 'Microsoft.Network/privateDnsZones').map((z) => z.name).sort()).toEqual(
      ['privatelink.blob.core.windows.net', 'privatelink.durabletask.io', 'privatelink.openai.azure.com', 'privatelink.servicebus.windows.net', 'privatelink.vaultcore.azure.net'].sort(),
    );
    expect(ofType(resources, 'Microsoft.Network/privateDnsZones/virtualNetworkLinks')).toHaveLength(5);
    const vnet = single(resources, 'Microsoft.Network/virtualNetworks');
    const appSubnet = (props(vnet).subnets as Json[]).find((s) => s.name === 'app');
    expect(JSON.stringify(appSubnet)).toContain('Microsoft.App/environments');
    expect(props(single(resources, 'Microsoft.Web/sites')).virtualNetworkSubnetId).toMatch(/\/subnets\/app$/);
    for (const type of ['Microsoft.Storage/storageAccounts', 'Microsoft.ServiceBus/namespaces', 'Microsoft.KeyVault/vaults', 'Microsoft.CognitiveServices/accounts', 'Microsoft.DurableTask/schedulers']) {
      expect(props(single(resources, type)).publicNetworkAccess).toBe('Disabled');
    }
    expect((single(resources, 'Microsoft.ServiceBus/namespaces').body.sku as Json).name).toBe('Premium');
  });

  it('prod with the Azure Storage backend: queue and table endpoints replace the scheduler\'s', () => {
    const groups = ofType(resourcesFor('prod', { durableBackend: 'azure-storage' }), 'Microsoft.Network/privateEndpoints').flatMap((pe) => ((props(pe).privateLinkServiceConnections as Json[])[0]?.properties as Json).groupIds as string[]);
    expect(groups.sort()).toEqual(['account', 'blob', 'namespace', 'queue', 'table', 'vault']);
  });

  it('dev and staging (VNet off): no private endpoint, DNS zone or VNet; the app has no subnet', () => {
    for (const env of ['dev', 'staging'] as const) {
      const resources = resourcesFor(env);
      expect(valuesFor(env).enablePrivateNetworking).toBe(false);
      expect(ofType(resources, 'Microsoft.Network/privateEndpoints')).toHaveLength(0);
      expect(ofType(resources, 'Microsoft.Network/privateDnsZones')).toHaveLength(0);
      expect(ofType(resources, 'Microsoft.Network/virtualNetworks')).toHaveLength(0);
      expect(props(single(resources, 'Microsoft.Web/sites')).virtualNetworkSubnetId).toBeNull();
    }
  });

  it('no secret anywhere: no list*() call, key or SAS in the template; outputs are names and endpoints', () => {
    const text = JSON.stringify(templateOf());
    expect(text).not.toMatch(/list(Keys|Secrets|ConnectionStrings|AccountSas|ServiceSas)\(/i);
    expect(text).not.toMatch(/AccountKey=|SharedAccessKey=|SharedAccessSignature/i);
    const outputs = (templateOf().outputs ?? {}) as Record<string, Json>;
    for (const [name, output] of Object.entries(outputs)) {
      expect(output.type).not.toMatch(/^secure/i);
      expect(name).not.toMatch(/secret|password|connection_?string|sas|token|_KEY$|ACCESS_?KEY|INSTRUMENTATION/i);
    }
    for (const env of ENVIRONMENTS) {
      for (const value of Object.values(deployedOutputs(templateOf(), valuesFor(env)))) {
        expect(String(value)).not.toMatch(/InstrumentationKey|AccountKey|SharedAccess|sig=|Password/i);
      }
    }
  });

  it('no secure parameter has a default; no parameter looks like a secret', () => {
    for (const [name, p] of Object.entries((templateOf().parameters ?? {}) as Record<string, Json>)) {
      if (String(p.type).toLowerCase().startsWith('secure')) expect(p.defaultValue).toBeUndefined();
      expect(name).not.toMatch(/password|secret|key$|connectionString/i);
    }
  });
});
