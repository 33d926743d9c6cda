// Every live process of one app version, its workers and its `processes:` alike: in rotation,
// starting (a restart, a replacement) or draining. The instance stops them all from here at
// its end, status lists its workers from here (draining ones too), and a process asked to stop
// while it is being stopped already (a stop during a drain) is signalled once.
import type { CommandProcess } from './command-process.js';
import { Worker } from './worker.js';

export type Member = Worker | CommandProcess;

export class Members {
  private readonly members = new Set<Member>();
  private readonly spawnedAt = new Map<Member, number>();
  /** Each member being stopped (or drained), so that a stop during a drain signals it once. */
  private readonly stopping = new Map<Member, Promise<void>>();

  /** A process just spawned: a member until it exits. */
  enlist(member: Member): void {
    this.members.add(member);
    this.spawnedAt.set(member, Date.now());
    member.once('exit', () => {
      this.members.delete(member);
      this.spawnedAt.delete(member);
    });
  }

  /** Stops `member` the way `how` says, unless it is being stopped already. */
  stopOnce(member: Member, how: () => Promise<void>): Promise<void> {
    let stopping = this.stopping.get(member);
    if (stopping === undefined) {
      stopping = how().finally(() => this.stopping.delete(member));
      this.stopping.set(member, stopping);
    }
    return stopping;
  }

  /** `member` is being stopped (or drained) now. */
  isStopping(member: Member): boolean {
    return this.stopping.has(member);
  }

  /** Every member now. */
  all(): Member[] {
    return [...this.members];
  }

  /** Its workers, in rotation or not. */
  workers(): Worker[] {
    return [...this.members].filter((m): m is Worker => m instanceof Worker);
  }

  /** When `member` was spawned (Date.now()). */
  spawnedAtOf(member: Member): number | undefined {
    return this.spawnedAt.get(member);
  }

  get pids(): number[] {
    return [...this.members].map((m) => m.pid).filter((p): p is number => typeof p === 'number');
  }
}
