import { TenantBlobSpace } from '../storage/blob-store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { BotReplyInput, BotTypingInput, ConversationRef } from './bot-types.js';
import type { ConnectorClient, OutgoingActivity } from './connector-client.js';

export interface BotActivityDeps {
  connector: ConnectorClient;
  blobs: BlobStore;
}

/** Teams refuses messages above ~28 KB; longer answers are cut with a note. */
const MAX_REPLY_CHARS = 24_000;

function outgoing(conversation: ConversationRef, type: OutgoingActivity['type'], text?: string): OutgoingActivity {
  return {
    type,
    ...(text === undefined ? {} : { text, textFormat: 'markdown' as const }),
    from: conversation.bot,
    recipient: conversation.user,
    conversation: { id: conversation.conversationId },
    replyToId: conversation.replyToId,
  };
}

/** Activities of `botConversationRun`. Replies are keyed to the incoming activity, so a retry posts to the same thread. */
export function createBotActivities(deps: BotActivityDeps): {
  sendTyping: (input: BotTypingInput) => Promise<void>;
  postReply: (input: BotReplyInput) => Promise<{ delivered: boolean; status: number }>;
} {
  return {
    async sendTyping(input: BotTypingInput): Promise<void> {
      await deps.connector.reply(input.conversation.serviceUrl, input.conversation.conversationId, outgoing(input.conversation, 'typing'));
    },

    async postReply(input: BotReplyInput): Promise<{ delivered: boolean; status: number }> {
      let text = input.answer;
      if (text === undefined && input.answerRef) {
        text = (await new TenantBlobSpace(deps.blobs, input.tenantId).get(input.answerRef))?.toString('utf8');
      }
      if (input.notice !== undefined) {
        text = input.notice;
      } else if (text === undefined || input.failure) {
        text = 'Sorry, I could not finish that request. Please try again later.';
      }
      if (text.length > MAX_REPLY_CHARS) text = `${text.slice(0, MAX_REPLY_CHARS)}\n\n…(answer shortened)`;
      return deps.connector.reply(input.conversation.serviceUrl, input.conversation.conversationId, outgoing(input.conversation, 'message', text));
    },
  };
}
