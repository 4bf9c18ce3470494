import { Activities, Orchestrators } from '../../../shared/agent-runtime/activity-catalog.js';
import { registerActivity, registerOrchestrator } from '../../../shared/durable-registration.js';
import { agentRunOrchestrator } from '../../../shared/orchestrators/agent-run.js';
import { agentToolCallOrchestrator } from '../../../shared/orchestrators/agent-tool-call.js';
import { batchLaneOrchestrator, batchRunOrchestrator } from '../../../shared/orchestrators/batch-run.js';
import { botConversationRunOrchestrator } from '../../../shared/orchestrators/bot-conversation-run.js';
import { queuedAgentRunOrchestrator } from '../../../shared/orchestrators/queued-agent-run.js';
import { fakeActivities } from '../../helpers/fake-activities.js';

/**
 * The orchestrator test app's entry (package.json `main`): the real orchestrators from source,
 * registered through the same catalogue helpers as functions/, with the fake activities of
 * tests/helpers/fake-activities.ts in place of the real ones. The devhost loads it like any app;
 * under vitest its TypeScript is compiled on import (no build step, no dist/).
 */
const fakes = fakeActivities();

registerOrchestrator(Orchestrators.agentRun, agentRunOrchestrator);
registerOrchestrator(Orchestrators.agentToolCall, agentToolCallOrchestrator);
registerOrchestrator(Orchestrators.batchRun, batchRunOrchestrator);
registerOrchestrator(Orchestrators.batchLane, batchLaneOrchestrator);
registerOrchestrator(Orchestrators.botConversationRun, botConversationRunOrchestrator);
registerOrchestrator(Orchestrators.queuedAgentRun, queuedAgentRunOrchestrator);

registerActivity(Activities.prepareRun, fakes.prepareRunActivity);
registerActivity(Activities.callModel, fakes.callModelActivity);
registerActivity(Activities.runTool, fakes.runToolActivity);
registerActivity(Activities.recordRunEvent, fakes.recordRunEventActivity);
registerActivity(Activities.prepareBatch, fakes.prepareBatchActivity);
registerActivity(Activities.writeBatchSummary, fakes.writeBatchSummaryActivity);
registerActivity(Activities.botSendTyping, fakes.botSendTypingActivity);
registerActivity(Activities.botPostReply, fakes.botPostReplyActivity);
registerActivity(Activities.publishRunReply, fakes.publishRunReplyActivity);
