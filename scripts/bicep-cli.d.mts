// Types for scripts/bicep-cli.mjs, so tests/infra can import it under the strict compiler.

export declare const REPO_ROOT: string;
export declare const INFRA_DIR: string;
export declare const INFRA_OUT_DIR: string;
export declare const ENVIRONMENTS: readonly ['dev', 'staging', 'prod'];
export declare const BICEP_VERSION: string;

export interface BicepCli {
  kind: 'native' | 'az';
  command: string;
  prefix: string[];
  source: string;
  version: string;
}
export interface Diagnostic {
  severity: 'Error' | 'Warning';
  text: string;
}
export interface CompiledInfra {
  template: Record<string, unknown>;
  parameters: Record<string, Record<string, unknown>>;
  diagnostics: Diagnostic[];
  info: string[];
}

export declare function locateBicep(options?: { restore?: boolean; log?: (line: string) => void }): BicepCli | { missing: string };
export declare function parseDiagnostics(stderr: string): Diagnostic[];
export declare function infraInputsHash(): string;
export declare function compileInfra(cli: BicepCli, options?: { lint?: boolean }): CompiledInfra;
export declare function writeCompiled(compiled: CompiledInfra, options: { clean: boolean; linted?: boolean; outDir?: string }): void;
export declare function lintedBuildIsCurrent(outDir?: string): boolean;
export declare function readCompiledIfCurrent(outDir?: string): Pick<CompiledInfra, 'template' | 'parameters'> | undefined;
export declare function languageVersionOf(template: Record<string, unknown>): string;
export declare class CompileError extends Error {
  readonly diagnostics: Diagnostic[];
}
