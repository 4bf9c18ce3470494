import type { InvocationContext } from '@azure/functions';
import { isAppErrorShape } from '../errors.js';
import type { ReplyPublisher } from './reply-publisher.js';
import type { PublishRunReplyInput, PublishRunReplyOutput } from './reply-types.js';

/**
 * The `publishRunReply` activity. Retryable failures are thrown (the orchestrator's retry policy
 * repeats them); failures marked `retryable: false` are returned, so no attempt is wasted.
 */
export function createPublishRunReplyActivity(replies: ReplyPublisher) {
  return async (input: PublishRunReplyInput, context: InvocationContext): Promise<PublishRunReplyOutput> => {
    try {
      await replies.publish(input.queue, input.reply);
      return { published: true };
    } catch (error) {
      if (isAppErrorShape(error) && !error.retryable) {
        context.error(`run ${input.reply.runId}: the reply to '${input.queue}' cannot be published: ${error.message}`);
        return { published: false, error: { code: error.code, message: error.message } };
      }
      throw error;
    }
  };
}
