// Tests start the devhost CLI through the same helper the benchmarks use.
export { devhostCliPath, repoRoot, spawnDevhost, type SpawnedDevhost } from '../../devhost/cli/spawn-devhost.js';
