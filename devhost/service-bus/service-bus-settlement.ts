import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import rhea from 'rhea';
import type { RpcTypedData } from '../host/core-types.js';
import type { StoredServiceBusMessage } from './service-bus-store.js';

/**
 * What the Functions host gives a Node function whose Service Bus trigger uses an SDK-type
 * binding (`sdkBinding: true`), and the settlement service that lets it complete, abandon and
 * dead-letter the message itself (`@azure/functions-extensions-servicebus`).
 *
 * How the real pieces fit (read from the package's source, 0.2.0-preview):
 * - The trigger's input is `modelBindingData` with source `AzureServiceBusReceivedMessage`; its
 *   content is the message's 16-byte lock token (a .NET Guid's byte order), the ASCII marker
 *   `x-opt-lock-token`, then the AMQP-encoded message. The package decodes it with `rhea`.
 * - Settlement calls go over gRPC (`Settlement` service, the package's `settlement.proto`) to the
 *   host's gRPC server, whose address the worker reads from its own command line:
 *   `--host`, `--port` and `--functions-grpc-max-message-length`, as the host launches it.
 *
 * The devhost runs the app in its own process, so it plays both parts: it serves `Settlement` on
 * loopback and writes that address into `process.argv` the way the host's launch line would.
 * The package builds its gRPC client once per process, so the server is process-wide, keeps its
 * port across devhost restarts in the same process, and routes each call by lock token to the
 * extension that delivered the message.
 */

/** Settles one delivered message; implemented by the Service Bus extension per lock token. */
export interface MessageSettler {
  complete(): void;
  abandon(): void;
  deadLetter(reason: string | undefined, description: string | undefined): void;
  renewLock(): void;
}

/** `--functions-grpc-max-message-length`: the host passes int.MaxValue. */
const GRPC_MAX_MESSAGE_LENGTH = 2_147_483_647;
const LOCK_TOKEN_MARKER = Buffer.from('x-opt-lock-token');

interface SettlementState {
  server: grpc.Server | undefined;
  /** Kept after the server stops: the package's cached client still dials this port. */
  port: number | undefined;
  starting: Promise<void> | undefined;
  users: number;
  settlers: Map<string, MessageSettler>;
}

// On globalThis so that a second copy of this module (test isolation, re-import) shares the one
// server the package's process-wide client points at.
const STATE_KEY = Symbol.for('devhost.serviceBus.settlement');
function state(): SettlementState {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: SettlementState };
  holder[STATE_KEY] ??= { server: undefined, port: undefined, starting: undefined, users: 0, settlers: new Map() };
  return holder[STATE_KEY];
}

/** Routes settlement calls for `lockToken` to `settler` until the returned function is called. */
export function registerSettler(lockToken: string, settler: MessageSettler): () => void {
  const { settlers } = state();
  settlers.set(lockToken, settler);
  return () => {
    if (settlers.get(lockToken) === settler) settlers.delete(lockToken);
  };
}

/**
 * Starts the loopback `Settlement` server (or joins the running one) and points the worker's
 * argv at it. Each call must be paired with {@link releaseSettlementServer}.
 */
export async function acquireSettlementServer(): Promise<void> {
  const s = state();
  s.users += 1;
  try {
    if (!s.server) {
      s.starting ??= startServer(s).finally(() => {
        s.starting = undefined;
      });
      await s.starting;
    }
  } catch (error) {
    s.users -= 1;
    throw error;
  }
}

/** Stops the server once its last user has released it. */
export async function releaseSettlementServer(): Promise<void> {
  const s = state();
  s.users = Math.max(0, s.users - 1);
  if (s.users > 0 || !s.server) return;
  const server = s.server;
  s.server = undefined;
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
}

async function startServer(s: SettlementState): Promise<void> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_LENGTH,
    'grpc.max_send_message_length': GRPC_MAX_MESSAGE_LENGTH,
  });
  server.addService(settlementServiceDefinition(), settlementImplementation(s.settlers));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${s.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  s.server = server;
  s.port = port;
  setWorkerArgs(port);
}

/** The package's own proto, so the devhost serves exactly the contract its client speaks. */
function settlementServiceDefinition(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('@azure/functions-extensions-servicebus/package.json'));
  const protoPath = join(packageDir, 'src', 'proto', 'settlement.proto');
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const service = definition['Settlement'];
  if (!service || !('Complete' in service)) throw new Error(`Service Bus: no Settlement service in ${protoPath}`);
  return service as grpc.ServiceDefinition;
}

interface LockRequest {
  locktoken?: string;
}
interface DeadletterRequest extends LockRequest {
  deadletterReason?: { value?: string } | null;
  deadletterErrorDescription?: { value?: string } | null;
}

function settlementImplementation(settlers: Map<string, MessageSettler>): grpc.UntypedServiceImplementation {
  const unary =
    <Req extends LockRequest>(act: (settler: MessageSettler, request: Req) => void): grpc.handleUnaryCall<Req, object> =>
    (call, callback) => {
      const lockToken = call.request.locktoken ?? '';
      const settler = settlers.get(lockToken);
      if (!settler) {
        callback({ code: grpc.status.NOT_FOUND, details: `No message is locked with token '${lockToken}' (settled already, or the lock expired).` });
        return;
      }
      try {
        act(settler, call.request);
        callback(null, {});
      } catch (error) {
        const lost = error instanceof Error && error.name === 'MessageLockLostError';
        callback({ code: lost ? grpc.status.FAILED_PRECONDITION : grpc.status.INTERNAL, details: error instanceof Error ? error.message : String(error) });
      }
    };
  const unsupported: grpc.handleUnaryCall<object, object> = (_call, callback) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'The devhost supports complete, abandon, deadletter and renewMessageLock only (no defer, no sessions).' });
  return {
    Complete: unary<LockRequest>((settler) => settler.complete()),
    Abandon: unary<LockRequest>((settler) => settler.abandon()),
    Deadletter: unary<DeadletterRequest>((settler, request) =>
      settler.deadLetter(request.deadletterReason?.value ?? undefined, request.deadletterErrorDescription?.value ?? undefined),
    ),
    RenewMessageLock: unary<LockRequest>((settler) => settler.renewLock()),
    Defer: unsupported,
    GetSessionState: unsupported,
    SetSessionState: unsupported,
    ReleaseSession: unsupported,
    RenewSessionLock: unsupported,
  };
}

/**
 * Writes the host's gRPC address into this process's argv as `--host`/`--port`/
 * `--functions-grpc-max-message-length`, replacing earlier values (the devhost CLI's own `--port`
 * has been parsed by now) so a single value of each remains.
 */
function setWorkerArgs(port: number): void {
  const names = new Set(['--host', '--port', '--functions-grpc-max-message-length']);
  const kept: string[] = [];
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const name = arg.split('=')[0] ?? arg;
    if (names.has(name)) {
      if (!arg.includes('=')) i += 1;
      continue;
    }
    kept.push(arg);
  }
  process.argv.splice(2, process.argv.length - 2, ...kept, '--host', '127.0.0.1', '--port', String(port), '--functions-grpc-max-message-length', String(GRPC_MAX_MESSAGE_LENGTH));
}

/** A lock token (UUID text) as a .NET Guid's bytes: the first three groups little-endian. */
function lockTokenBytes(lockToken: string): Buffer {
  const hex = lockToken.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`Service Bus: lock token '${lockToken}' is not a GUID`);
  const bytes = Buffer.from(hex, 'hex');
  bytes.subarray(0, 4).reverse();
  bytes.subarray(4, 6).reverse();
  bytes.subarray(6, 8).reverse();
  return bytes;
}

/**
 * The trigger input for an SDK-type binding: `modelBindingData` as the host sends it. The body
 * travels as one AMQP data section (what Service Bus SDKs send), so the package hands the function
 * text (JSON parsed only when `contentType` is `application/json`), as in Azure.
 */
export function toModelBindingData(message: StoredServiceBusMessage): RpcTypedData {
  const raw = message.rawBody;
  const bodyBytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw);
  const amqp: Record<string, unknown> = {
    message_id: message.messageId,
    body: rhea.message.data_section(bodyBytes),
    delivery_count: message.deliveryCount,
    application_properties: message.applicationProperties,
    message_annotations: {
      'x-opt-enqueued-time': message.enqueuedTimeUtc,
      'x-opt-sequence-number': rhea.types.wrap_long(message.sequenceNumber),
      ...(message.lockedUntilUtc ? { 'x-opt-locked-until': message.lockedUntilUtc } : {}),
    },
  };
  const optional: [string, string | undefined][] = [
    ['content_type', message.contentType],
    ['correlation_id', message.correlationId],
    ['subject', message.subject],
    ['reply_to', message.replyTo],
    ['group_id', message.sessionId],
  ];
  for (const [key, value] of optional) if (value !== undefined) amqp[key] = value;
  const content = Buffer.concat([lockTokenBytes(message.lockToken ?? ''), LOCK_TOKEN_MARKER, rhea.message.encode(amqp)]);
  return {
    modelBindingData: { version: '1.0', source: 'AzureServiceBusReceivedMessage', contentType: 'application/octet-stream', content },
  };
}
