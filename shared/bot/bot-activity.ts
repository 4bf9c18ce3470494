import { z } from 'zod';

/**
 * The parts of an incoming Bot Framework activity the bot door uses. Unknown fields are allowed
 * (channels add many); what we rely on is required and bounded.
 */
const Account = z.object({ id: z.string().min(1).max(512), name: z.string().max(512).optional() });

export const IncomingActivitySchema = z.object({
  type: z.string().min(1).max(64),
  id: z.string().min(1).max(512),
  serviceUrl: z.url().max(2048),
  channelId: z.string().min(1).max(64),
  from: Account,
  recipient: Account,
  conversation: z.object({ id: z.string().min(1).max(1024) }),
  text: z.string().max(28_000).optional(),
  channelData: z.object({ tenant: z.object({ id: z.string().max(64) }).optional() }).optional(),
});
export type IncomingActivity = z.infer<typeof IncomingActivitySchema>;

/** Removes the bot's own @mention (`<at>Bot</at>`) Teams puts in channel messages. */
export function messageText(activity: IncomingActivity): string {
  return (activity.text ?? '').replace(/<at>[^<]*<\/at>/g, '').trim();
}
