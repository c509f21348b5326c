// The victim's answers that need nothing back from the server but "recorded" (the video choice,
// safety answers that let the call go on, consent given) are sent in the background, so the
// next screen shows at once instead of after a round trip. They go one at a time, in the order
// given, each only after the one before was recorded, so the server sees the same sequence as
// when every screen waited. A dropped connection or a server error is tried again; a refusal
// (or tries running out) takes the victim back to the screen that gave the answer, with the
// server's message, and nothing queued after it is sent. Answers that stop the journey (a
// safety "no", consent refused, an in-person visit) are still awaited by their screens.

import { ApiError } from "../common/api";
import type { Answer } from "./state";

export type { Answer };

/** Waits between tries of an answer the server could not take: about 7.5 s in all. */
export const RETRY_MS: readonly number[] = [500, 1000, 2000, 4000];

/** An answer queued after one the server refused: never sent. */
export class Dropped extends Error {
  constructor() {
    super("an earlier answer was refused");
    this.name = "Dropped";
  }
}

/** No connection, the server failing or busy: worth trying again. Anything else is a refusal. */
function transient(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

export interface OutboxHooks {
  post: (path: string, body: unknown) => Promise<unknown>;
  /** The answers not yet recorded, oldest first, to keep across a reload. */
  changed: (waiting: readonly Answer[]) => void;
  refused: (answer: Answer, err: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
}

export class Outbox {
  private tail: Promise<void> = Promise.resolve();
  private last: Promise<void> = Promise.resolve();
  /** Bumped on a refusal: answers queued before it are dropped. */
  private generation = 0;
  private readonly waiting: Answer[] = [];

  constructor(private readonly hooks: OutboxHooks) {}

  /** Queue an answer. Resolves once it is recorded; rejects if it, or one before it, was refused
   *  (the refusal has then already been shown). */
  send(answer: Answer): Promise<void> {
    const generation = this.generation;
    this.waiting.push(answer);
    this.hooks.changed(this.waiting);
    const done = this.tail.then(async () => {
      if (generation !== this.generation) throw new Dropped();
      try {
        await this.deliver(answer);
      } catch (err) {
        this.generation += 1;
        this.waiting.length = 0;
        this.hooks.changed(this.waiting);
        this.hooks.refused(answer, err);
        throw err;
      }
      this.waiting.shift();
      this.hooks.changed(this.waiting);
    });
    this.tail = done.catch(() => undefined);
    this.last = done;
    return done;
  }

  /** Run `work` once every answer queued so far is settled (at once when none is waiting),
   *  without holding later answers: a progress report then reaches the server after the answer
   *  it reports on. */
  after(work: () => void): void {
    if (this.waiting.length === 0) work();
    else void this.tail.then(work);
  }

  /** Resolves once every answer queued so far is recorded; rejects if one was refused. */
  flush(): Promise<void> {
    return this.last;
  }

  private async deliver(answer: Answer): Promise<void> {
    const sleep = this.hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.hooks.post(answer.path, answer.body);
        return;
      } catch (err) {
        if (!transient(err) || attempt >= RETRY_MS.length) throw err;
        await sleep(RETRY_MS[attempt]);
      }
    }
  }
}
