import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OTLP/HTTP JSON receiver on loopback (`/v1/traces`, `/v1/metrics`, `/v1/logs`) for
 * tests: keeps every request body and answers 200 `{}` as a collector does.
 */
export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number; arrayValue?: { values: OtlpAttribute['value'][] } };
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes: OtlpAttribute[];
  status?: { code?: number; message?: string };
}

export interface OtlpReceiver {
  url: string;
  /** Raw bodies by path, in arrival order. */
  bodies: { path: string; text: string }[];
  spans(): OtlpSpan[];
  /** Names of every metric received. */
  metrics(): { name: string; dataPoints: { attributes: OtlpAttribute[] }[] }[];
  logs(): { body?: { stringValue?: string }; traceId?: string; spanId?: string; attributes: OtlpAttribute[] }[];
  stop(): Promise<void>;
}

export function attr(attributes: OtlpAttribute[] | undefined, key: string): string | number | boolean | undefined {
  const value = attributes?.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  return JSON.stringify(value);
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const bodies: { path: string; text: string }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', text: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const parsed = (path: string): Record<string, unknown>[] => bodies.filter((b) => b.path === path).map((b) => JSON.parse(b.text) as Record<string, unknown>);
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    spans: () =>
      parsed('/v1/traces').flatMap((b) => ((b['resourceSpans'] ?? []) as { scopeSpans: { spans: OtlpSpan[] }[] }[]).flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    metrics: () =>
      parsed('/v1/metrics').flatMap((b) =>
        ((b['resourceMetrics'] ?? []) as { scopeMetrics: { metrics: Record<string, unknown>[] }[] }[]).flatMap((r) =>
          r.scopeMetrics.flatMap((s) =>
            s.metrics.map((m) => {
              const data = (m['histogram'] ?? m['sum'] ?? m['gauge'] ?? { dataPoints: [] }) as { dataPoints: { attributes: OtlpAttribute[] }[] };
              return { name: String(m['name']), dataPoints: data.dataPoints };
            }),
          ),
        ),
      ),
    logs: () =>
      parsed('/v1/logs').flatMap((b) =>
        ((b['resourceLogs'] ?? []) as { scopeLogs: { logRecords: { attributes: OtlpAttribute[] }[] }[] }[]).flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords)),
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
