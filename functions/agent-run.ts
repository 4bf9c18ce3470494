import * as df from 'durable-functions';
import { createAgentActivities } from '../shared/agent-runtime/agent-activities.js';
import { Activities, Orchestrators } from '../shared/agent-runtime/activity-catalog.js';
import { deps } from '../shared/composition-root.js';
import { agentRunOrchestrator } from '../shared/orchestrators/agent-run.js';
import { agentToolCallOrchestrator } from '../shared/orchestrators/agent-tool-call.js';

const activities = createAgentActivities(deps.runtime);

df.app.orchestration(Orchestrators.agentRun.name, agentRunOrchestrator);
df.app.orchestration(Orchestrators.agentToolCall.name, agentToolCallOrchestrator);
df.app.activity(Activities.prepareRun.name, { handler: activities.prepareRun });
df.app.activity(Activities.callModel.name, { handler: activities.callModel });
df.app.activity(Activities.runTool.name, { handler: activities.runTool });
df.app.activity(Activities.recordRunEvent.name, { handler: activities.recordRunEvent });
