import { describe, expect, it } from 'vitest';
import { TenantCatalogDocumentSchema, replyQueuePatternsOverlap } from '../../shared/tenancy/tenant.js';

const tenant = (id: string, replyQueues: string[]) => ({ id, status: 'active', replyQueues });

describe('reply queues across tenants', () => {
  it('overlap when one queue name can match both patterns', () => {
    expect(replyQueuePatternsOverlap('contoso-*', 'contoso-fabrikam')).toBe(true);
    expect(replyQueuePatternsOverlap('contoso-*', 'Contoso-Replies*')).toBe(true);
    expect(replyQueuePatternsOverlap('con*', 'contoso-*')).toBe(true);
    expect(replyQueuePatternsOverlap('answers', 'ANSWERS')).toBe(true);
    expect(replyQueuePatternsOverlap('contoso-*', 'fabrikam-*')).toBe(false);
    expect(replyQueuePatternsOverlap('contoso-a', 'contoso-b')).toBe(false);
    expect(replyQueuePatternsOverlap('contoso-*', 'contoso')).toBe(false);
  });

  it('are a catalog error naming both tenants', () => {
    const result = TenantCatalogDocumentSchema.safeParse({ tenants: [tenant('contoso', ['contoso-*']), tenant('fabrikam', ['fabrikam-*', 'contoso-fabrikam'])] });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([
      'reply queues overlap across tenants: "contoso-*" of contoso and "contoso-fabrikam" of fabrikam can match the same queue',
    ]);
    expect(TenantCatalogDocumentSchema.safeParse({ tenants: [tenant('contoso', ['contoso-*']), tenant('fabrikam', ['fabrikam-*'])] }).success).toBe(true);
  });
});
