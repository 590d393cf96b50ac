/**
 * node:test reporter that writes nothing until the run ends, then lists every failed test
 * with its file and error. `npm test` appends it after the TAP stream because CI shows only
 * the tail of the output, where a bare "# fail 1" names nothing.
 */
import { inspect } from 'node:util';

interface FailData {
  name: string;
  nesting: number;
  file?: string;
  details: { error?: unknown; duration_ms?: number; type?: string };
}
interface ReporterEvent {
  type: string;
  data: unknown;
}

function errorText(error: unknown): string {
  // A test's assertion arrives wrapped as the `cause` of an ERR_TEST_FAILURE.
  const inner = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const text = inner instanceof Error ? (inner.stack ?? inner.message) : inspect(inner, { depth: 4 });
  return text.split('\n').slice(0, 12).map((l) => `    ${l}`).join('\n');
}

export default async function* failureSummary(source: AsyncIterable<ReporterEvent>): AsyncGenerator<string> {
  const failed: FailData[] = [];
  for await (const event of source) {
    if (event.type === 'test:fail') failed.push(event.data as FailData);
  }
  if (failed.length === 0) return;
  // A suite fails when a child does; the tests themselves say what went wrong.
  const leaves = failed.filter((f) => f.details.type !== 'suite');
  yield `\n# ${leaves.length} failed; the failing tests:\n`;
  for (const f of leaves) {
    yield `not ok - ${f.name}  (${f.file ?? 'unknown file'})\n${errorText(f.details.error)}\n`;
  }
}
