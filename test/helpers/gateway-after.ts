// The after-hook of a test file that ran one Gateway: the file's processes all gone, then its
// directory. Typed by shape: a test imports Gateway by the package's name (dist/) or from src/.
import { assertNoOrphans } from './process.js';

/**
 * Stops `gateway` (if it started), then `also` (a server the file ran beside it), then waits
 * for every pid in `seen` and the gateway's pids now to be gone, and removes `work`.
 */
export async function stopGatewayAndWork(
  gateway: { readonly pids: number[]; stop(): Promise<void> } | null,
  work: { remove(): void },
  seen: Set<number> = new Set(),
  also?: () => Promise<unknown>,
): Promise<void> {
  for (const pid of gateway?.pids ?? []) seen.add(pid);
  await gateway?.stop();
  await also?.();
  await assertNoOrphans([...seen]);
  work.remove();
}
