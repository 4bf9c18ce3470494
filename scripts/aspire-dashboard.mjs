#!/usr/bin/env node
// `npm run telemetry:dashboard`: the standalone Aspire dashboard (NuGet Aspire.Dashboard.Sdk.linux-x64),
// a local OTLP receiver with trace, metric and log views. Needs the .NET SDK. The package is
// restored once into .devhost/aspire; the dashboard then serves http://127.0.0.1:18888 and takes
// OTLP/HTTP on 127.0.0.1:4318 (gRPC on 4317). Loopback only, no login: it is a development viewer.
// Point the app at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm start.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = process.env.ASPIRE_DASHBOARD_VERSION ?? '13.6.5';
const root = join(import.meta.dirname, '..');
const dir = join(root, '.devhost', 'aspire');
const packages = join(dir, 'packages');
const exe = join(packages, 'aspire.dashboard.sdk.linux-x64', VERSION, 'tools', 'Aspire.Dashboard');

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error('This script fetches the linux-x64 build; on other platforms use the Aspire dashboard container or package for your platform.');
  process.exit(1);
}
if (!existsSync(exe)) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'aspire-dashboard.csproj'),
    `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Aspire.Dashboard.Sdk.linux-x64" Version="[${VERSION}]" /></ItemGroup>
</Project>
`,
  );
  const restore = spawnSync('dotnet', ['restore', join(dir, 'aspire-dashboard.csproj'), '--packages', packages], { stdio: 'inherit' });
  if (restore.error || restore.status !== 0) {
    console.error(`dotnet restore failed${restore.error ? `: ${restore.error.message}` : ''} (is the .NET SDK installed?)`);
    process.exit(1);
  }
}
const child = spawn(exe, [], {
  stdio: 'inherit',
  env: {
    ...process.env,
    ASPNETCORE_URLS: process.env.ASPNETCORE_URLS ?? 'http://127.0.0.1:18888',
    ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL: process.env.ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL ?? 'http://127.0.0.1:4318',
    ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL: process.env.ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL ?? 'http://127.0.0.1:4317',
    ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS: 'true',
  },
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
