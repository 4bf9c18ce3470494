import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { repoRoot } from '../helpers/spawn-devhost.js';

/**
 * `npm start` runs Azurite so that a kill -9 of npm start (its whole process group) does not
 * take Azurite down with it: Azurite saves its blob index only every 5 s, so dying with the
 * devhost lost writes the orchestration (SQLite, committed at once) had already moved past.
 */

const dirs: string[] = [];
let survivor: AzuriteHandle | undefined;
afterAll(async () => {
  await survivor?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('Azurite for npm start', () => {
  it('keeps a blob written just before its parent process group was killed with SIGKILL, and is reused', async () => {
    const location = mkdtempSync(join(tmpdir(), 'azurite-survives-'));
    dirs.push(location);
    const port = await freePort();
    // A stand-in for `npm start`: starts Azurite the way start-local does, writes a blob, then waits.
    const script = `
      const { startAzurite } = await import(${JSON.stringify(join(repoRoot, 'dist-dev', 'devhost', 'local-services', 'azurite.js'))});
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const a = await startAzurite({ port: ${port}, location: ${JSON.stringify(location)}, survivesParent: true });
      const c = BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient('agent-data');
      await c.createIfNotExists();
      await c.getBlockBlobClient('relied-on.json').upload('{"n":1}', 7);
      process.stdout.write('WRITTEN\\n');
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      parent.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('WRITTEN')) resolve();
      });
      parent.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      parent.once('exit', (code) => reject(new Error(`parent exited with ${code}: ${output}`)));
    });
    const exited = new Promise<void>((r) => parent.once('exit', () => r()));
    process.kill(-(parent.pid as number), 'SIGKILL');
    await exited;

    survivor = await startAzurite({ port, location, survivesParent: true });
    expect(survivor.reused).toBe(true);
    const blob = await BlobServiceClient.fromConnectionString(survivor.connectionString).getContainerClient('agent-data').getBlockBlobClient('relied-on.json').downloadToBuffer();
    expect(blob.toString()).toBe('{"n":1}');
  });
});
