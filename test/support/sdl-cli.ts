import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sdlEnv } from './sdl-process.js';
import type { Stack } from './stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** One finding of `sdl check`'s JSON report. */
export interface CheckFinding {
  check: string;
  ok: boolean;
  warning?: boolean;
  detail: string;
  fix?: string;
  writeConcern?: { w: number | string; j?: boolean };
}

export interface CheckReport {
  ok: boolean;
  findings?: CheckFinding[];
  source?: { ok: boolean; error?: string };
  target?: { ok: boolean; findings?: CheckFinding[]; topology?: { kind: string } };
  tls?: { sslMode: string; encrypted: boolean; version: string; cipher: string };
}

/**
 * An sdl command as an operator runs it against the stack: exit code, stdout, stderr.
 * `onStdout` sees its output as it comes, for a test that waits on what the command says.
 */
export function sdlCommand(stack: Stack, command: string, env: Record<string, string> = {}, args: string[] = [], timeoutMs = 60_000, onStdout?: (text: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, command, ...args], { env: sdlEnv(stack, env), timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
    if (onStdout !== undefined) child.stdout?.on('data', (chunk: Buffer | string) => onStdout(String(chunk)));
  });
}

/** `sdl check` as an operator runs it against the stack: exit code and the JSON report. */
export async function sdlCheck(stack: Stack, env: Record<string, string> = {}): Promise<{ code: number; report: CheckReport }> {
  const { code, stdout } = await sdlCommand(stack, 'check', env);
  return { code, report: JSON.parse(stdout) as CheckReport };
}
