import { createAgentActivities } from '../shared/agent-runtime/agent-activities.js';
import { Activities, Orchestrators } from '../shared/agent-runtime/activity-catalog.js';
import { deps } from '../shared/composition-root.js';
import { registerActivity, registerOrchestrator } from '../shared/durable-registration.js';
import { agentRunOrchestrator } from '../shared/orchestrators/agent-run.js';
import { agentToolCallOrchestrator } from '../shared/orchestrators/agent-tool-call.js';

const activities = createAgentActivities(deps.runtime);

registerOrchestrator(Orchestrators.agentRun, agentRunOrchestrator);
registerOrchestrator(Orchestrators.agentToolCall, agentToolCallOrchestrator);
registerActivity(Activities.prepareRun, activities.prepareRun);
registerActivity(Activities.callModel, activities.callModel);
registerActivity(Activities.runTool, activities.runTool);
registerActivity(Activities.recordRunEvent, activities.recordRunEvent);
