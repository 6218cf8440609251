export interface WaitForOptions {
  timeoutMs: number;
  intervalMs?: number;
  description: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a truthy value and resolves with it. A probe that throws counts as
 * "not yet" (its last error is reported on timeout). Throws `timed out waiting for <description>`.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false | null>, options: WaitForOptions): Promise<T> {
  const { timeoutMs, intervalMs = 50, description } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause =
        lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out waiting for ${description} after ${timeoutMs} ms${cause}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
