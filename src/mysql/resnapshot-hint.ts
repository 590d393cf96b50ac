/**
 * The recovery sdl names when a mirror can no longer be trusted, in one place so every stop
 * and warning says the same thing. Its callers stop the pipeline at the event, and a restart
 * would stop there again: only `--resnapshot` (a new checkpoint past it) gets beyond, while the
 * per-table online re-snapshot needs a pipeline that streams.
 */
export function resnapshotHint(tables: readonly string[]): string {
  const list = [...new Set(tables)];
  const which = list.length === 0 ? 'the affected tables' : list.map((t) => `\`${t}\``).join(', ');
  const single = list.length === 0 ? 'db.t,…' : list.join(',');
  return `re-snapshot ${which}: stop sdl and start it once with \`sdl run --resnapshot\` (it copies every included table again; while a pipeline streams, \`sdl snapshot --tables ${single}\` copies single tables again online)`;
}
