// Types for scripts/zip-archive.mjs.
export declare function createZip(entries: { name: string; data: Buffer }[]): Buffer;
export declare function readZip(zip: Buffer): Map<string, Buffer>;
