/**
 * The recovery sdl names when a mirror can no longer be trusted, in one place so every stop
 * and warning says the same thing (and changes together when per-table re-snapshots exist).
 */
export function resnapshotHint(tables: readonly string[]): string {
  const list = [...new Set(tables)];
  const which = list.length === 0 ? 'the affected tables' : list.map((t) => `\`${t}\``).join(', ');
  return `re-snapshot ${which}: stop sdl and start it once with \`sdl run --resnapshot\` (it copies every included table again; re-snapshotting single tables is not built yet)`;
}
