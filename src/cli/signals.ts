/**
 * Imported first by the CLI, so a SIGTERM/SIGINT that arrives while the rest of sdl is still
 * loading (the driver, xstate, the pool: hundreds of milliseconds on a loaded host) is held
 * instead of killing the process, and handed to the command once it installs its own handler.
 */
const held: NodeJS.Signals[] = [];
const hold = (sig: NodeJS.Signals): void => {
  held.push(sig);
};
process.on('SIGTERM', hold);
process.on('SIGINT', hold);

/** Installs the command's handler and gives it every signal that came before it. */
export function takeOverSignals(handler: (sig: NodeJS.Signals) => void): void {
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  process.off('SIGTERM', hold);
  process.off('SIGINT', hold);
  for (const sig of held.splice(0)) handler(sig);
}

/** For commands without their own handling: signals act as usual again (a held one now). */
export function defaultSignals(): void {
  process.off('SIGTERM', hold);
  process.off('SIGINT', hold);
  const first = held.splice(0)[0];
  if (first !== undefined) process.kill(process.pid, first);
}
