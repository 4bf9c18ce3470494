import { app } from '@azure/functions';
import { deps } from '../shared/composition-root.js';
import { traceInvocation } from '../shared/telemetry/invocation-tracing.js';

// Door spans for every HTTP, Service Bus and timer invocation (shared/telemetry/invocation-tracing.ts);
// telemetry still buffered is flushed when the host stops the app.
app.hook.preInvocation(traceInvocation);
app.hook.appTerminate(() => deps.telemetry.shutdown());
