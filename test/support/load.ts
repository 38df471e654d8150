/** What one request through the router answered. */
export interface Answer {
  status: number;
  body: string;
}

export interface LoadResult<T> {
  result: T;
  ok: number;
  /** Each failed request: when, and what came back (status and body start, or the error). */
  failures: { at: number; what: string }[];
  /** The distinct bodies of the good answers (which replica, which version answered). */
  bodies: Set<string>;
}

/**
 * A steady, bounded request loop (3 workers) while `work` runs, the way the
 * zero-downtime tests check deploys, scaling, restarts and hot upgrades. An
 * answer counts as good when `good` says so (default: status 200).
 */
export async function underLoad<T>(
  request: () => Promise<Answer>,
  work: () => Promise<T>,
  options: { good?: (answer: Answer) => boolean; pauseMs?: number; maxMs?: number } = {},
): Promise<LoadResult<T>> {
  const good = options.good ?? ((a: Answer) => a.status === 200);
  let done = false;
  let ok = 0;
  const failures: { at: number; what: string }[] = [];
  const bodies = new Set<string>();
  const deadline = Date.now() + (options.maxMs ?? 8 * 60_000);
  const worker = async () => {
    while (!done && Date.now() < deadline) {
      try {
        const answer = await request();
        if (good(answer)) {
          ok++;
          bodies.add(answer.body);
        } else failures.push({ at: Date.now(), what: `${answer.status} ${answer.body.slice(0, 80)}` });
      } catch (err) {
        failures.push({ at: Date.now(), what: String(err) });
      }
      await Bun.sleep(options.pauseMs ?? 20);
    }
  };
  const workers = [worker(), worker(), worker()];
  const result = await work().finally(() => (done = true));
  await Promise.all(workers);
  return { result, ok, failures, bodies };
}
