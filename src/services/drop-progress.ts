// What uninstall's drops on the host's servers (remove-services.ts) have done so far, and what
// they are at: a drop that fails midway (a role that still holds a grant elsewhere, its database
// dropped already) is then said as it stands, not as if nothing had changed.

export interface DropProgress {
  /** Each object dropped, in order: "postgresql database apppkg_blog". */
  done: string[];
  /** The object being dropped now, or null between drops. */
  doing: string | null;
}

export function newDropProgress(): DropProgress {
  return { done: [], doing: null };
}

/** Runs `drop`, which drops `what` ("postgresql role apppkg_blog"), told to `progress`. */
export async function dropping<T>(progress: DropProgress, what: string, drop: () => Promise<T>): Promise<T> {
  progress.doing = what;
  const result = await drop();
  progress.done.push(what);
  progress.doing = null;
  return result;
}
