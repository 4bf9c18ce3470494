import type { AgentRunInput, RunEndReason } from '../agent-runtime/run-types.js';

/**
 * Payloads of the `botConversationRun` orchestration and its activities (plain JSON, stored in
 * Durable history).
 */

/** Where to answer: everything the connector needs, taken from the (verified) incoming activity. */
export interface ConversationRef {
  /** The channel's connector endpoint; attested by the token's `serviceUrl` claim. */
  serviceUrl: string;
  conversationId: string;
  /** The incoming activity's id: the reply is threaded to it. */
  replyToId: string;
  channelId: string;
  bot: { id: string; name?: string | undefined };
  user: { id: string; name?: string | undefined };
}

export interface BotConversationInput {
  conversation: ConversationRef;
  run: AgentRunInput;
  /**
   * Admission refused the run for a reason the user should hear (the tenant's token budget is
   * spent): no agent run starts; the conversation gets `message` as the reply.
   */
  refusal?: { code: 'budget_exhausted'; message: string };
}

export interface BotConversationOutput {
  runId: string;
  status: RunEndReason | 'failed';
  delivered: boolean;
}

export interface BotTypingInput {
  tenantId: string;
  conversation: ConversationRef;
}

export interface BotReplyInput {
  tenantId: string;
  runId: string;
  conversation: ConversationRef;
  /** The answer text, or a tenant-relative blob path when it was too large to inline. */
  answer?: string;
  answerRef?: string;
  /** Set when the run did not produce an answer. */
  failure?: string;
  /** Said instead of an answer when no run was started (admission refused it, e.g. the budget is spent). */
  notice?: string;
}
