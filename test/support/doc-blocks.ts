/**
 * The shell commands of the runbook (docs/*.md), as the doc test runs them. The convention,
 * stated at the top of docs/settings.md:
 * - a fenced block tagged `sh` is run; any other tag (`text`) is not;
 * - one command per line (a trailing `\` continues it); `# exit N` in its comment is the exit
 *   status it must give, 0 when absent;
 * - an HTML comment `<!-- doc-test: sdl running -->` or `<!-- doc-test: sdl stopped -->` right
 *   before a block says which state the service must be in for it (invisible when rendered;
 *   the visible text says `systemctl start/stop sdl`).
 */
export interface DocCommand {
  /** 1-based line in the file where the command starts. */
  line: number;
  text: string;
  expectExit: number;
}

export type ServiceState = 'running' | 'stopped';

export interface DocBlock {
  file: string;
  /** Line of the opening fence. */
  line: number;
  lang: string;
  service?: ServiceState;
  commands: DocCommand[];
}

const FENCE = /^```(\S*)\s*$/;
const DIRECTIVE = /^<!--\s*doc-test:\s*sdl\s+(running|stopped)\s*-->\s*$/;
const EXPECT = /#\s*exit\s+(\d+)\b/;

export function docBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  let pending: ServiceState | undefined;
  for (let i = 0; i < lines.length; i++) {
    const directive = DIRECTIVE.exec(lines[i] ?? '');
    if (directive !== null) {
      pending = directive[1] as ServiceState;
      continue;
    }
    const open = FENCE.exec(lines[i] ?? '');
    if (open === null) continue;
    const start = i;
    const body: { line: number; text: string }[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push({ line: i + 1, text: lines[i] ?? '' });
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code block never closed`);
    const block: DocBlock = { file, line: start + 1, lang: open[1] ?? '', commands: open[1] === 'sh' ? commandsOf(body) : [] };
    if (pending !== undefined) block.service = pending;
    pending = undefined;
    blocks.push(block);
  }
  if (pending !== undefined) throw new Error(`${file}: a doc-test directive is not followed by a code block`);
  return blocks;
}

function commandsOf(body: { line: number; text: string }[]): DocCommand[] {
  const out: DocCommand[] = [];
  let open: { line: number; parts: string[] } | undefined;
  for (const { line, text } of body) {
    if (open === undefined) {
      if (text.trim() === '' || text.trim().startsWith('#')) continue;
      open = { line, parts: [] };
    }
    open.parts.push(text);
    if (text.endsWith('\\')) continue;
    const full = open.parts.join('\n');
    const expect = EXPECT.exec(full);
    out.push({ line: open.line, text: full, expectExit: expect === null ? 0 : Number(expect[1]) });
    open = undefined;
  }
  return out;
}

/**
 * One bash script for a block: each command, then a check of its exit status that stops the
 * script naming the file, line and command. `pipefail`, so `sdl status | jq` fails when sdl does.
 */
export function blockScript(block: DocBlock, rewrite: (command: string) => string): string {
  const lines = ['set -o pipefail'];
  for (const c of block.commands) {
    const where = `${block.file}:${c.line}`;
    lines.push(rewrite(c.text));
    lines.push(`rc=$?; if [ "$rc" -ne ${c.expectExit} ]; then printf 'doc test: %s exited %s, expected %s: %s\\n' ${shellQuote(where)} "$rc" ${c.expectExit} ${shellQuote(c.text)} >&2; exit 97; fi`);
  }
  return lines.join('\n') + '\n';
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
