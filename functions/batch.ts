import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { Activities, Orchestrators } from '../shared/agent-runtime/activity-catalog.js';
import { createBatchActivities } from '../shared/batch/batch-activities.js';
import { createBatchSchedulerHandler } from '../shared/batch/batch-scheduler.js';
import { deps } from '../shared/composition-root.js';
import { registerActivity, registerOrchestrator } from '../shared/durable-registration.js';
import { batchLaneOrchestrator, batchRunOrchestrator } from '../shared/orchestrators/batch-run.js';

const activities = createBatchActivities(deps);

app.timer('batchScheduler', {
  schedule: deps.config.batch.schedulerSchedule,
  extraInputs: [df.input.durableClient()],
  handler: createBatchSchedulerHandler(deps, (context) => df.getClient(context)),
});
registerOrchestrator(Orchestrators.batchRun, batchRunOrchestrator);
registerOrchestrator(Orchestrators.batchLane, batchLaneOrchestrator);
registerActivity(Activities.prepareBatch, activities.prepareBatch);
registerActivity(Activities.writeBatchSummary, activities.writeBatchSummary);
