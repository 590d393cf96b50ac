/** The part of a socket-like connection that pauses and resumes reading. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * Two owners pause zongji's binlog connection: zongji itself while it fetches an unknown table's
 * columns, and sdl's backpressure. zongji resumes when its fetch ends whatever else holds the
 * connection, which ended a backpressure pause early. After this, reading resumes only when
 * neither holds it. Returns the backpressure side; zongji keeps calling the connection's own
 * methods, now gated.
 */
export function gatePauses(conn: Pausable): Pausable {
  const pause = conn.pause.bind(conn);
  const resume = conn.resume.bind(conn);
  let byZongji = false;
  let byBackpressure = false;
  conn.pause = (): void => {
    byZongji = true;
    pause();
  };
  conn.resume = (): void => {
    byZongji = false;
    if (!byBackpressure) resume();
  };
  return {
    pause: (): void => {
      byBackpressure = true;
      pause();
    },
    resume: (): void => {
      byBackpressure = false;
      if (!byZongji) resume();
    },
  };
}
