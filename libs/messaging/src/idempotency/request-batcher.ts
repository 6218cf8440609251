/** When a batch is sent: as soon as it holds `maxSize` requests, or `flushMs` after its first one arrived. */
export interface BatchTiming {
  maxSize: number;
  /** 0: at the end of the current event-loop turn (setImmediate), so a lone request waits for no timer. */
  flushMs: number;
}

interface Waiting<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers requests made one at a time into batches sent in one call. `send` answers every request of
 * a batch in order: a value resolves that request, an Error rejects that request alone; a rejection
 * of `send` itself rejects the whole batch. A request is never sent twice here, and none waits longer
 * than `flushMs` for company.
 */
export class RequestBatcher<Request, Result> {
  private waiting: Waiting<Request, Result>[] = [];
  /** Cancels the pending flush of the waiting batch; undefined when none is scheduled. */
  private cancelFlush: (() => void) | undefined;

  constructor(
    private readonly send: (requests: Request[]) => Promise<(Result | Error)[]>,
    private readonly timing: BatchTiming,
    /** Told the size of each batch as it is sent (a metric). */
    private readonly onSend?: (size: number) => void,
  ) {}

  add(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (this.waiting.length >= this.timing.maxSize) this.flush();
      else if (this.cancelFlush === undefined) this.cancelFlush = this.schedule();
    });
  }

  private schedule(): () => void {
    if (this.timing.flushMs === 0) {
      const immediate = setImmediate(this.flush);
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(this.flush, this.timing.flushMs);
    return () => clearTimeout(timer);
  }

  private readonly flush = (): void => {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    this.onSend?.(batch.length);
    let sent: Promise<(Result | Error)[]>;
    try {
      sent = this.send(batch.map((entry) => entry.request));
    } catch (error) {
      sent = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    sent.then(
      (results) => {
        for (let i = 0; i < batch.length; i++) {
          const result = results[i];
          if (result instanceof Error) batch[i].reject(result);
          else if (i < results.length) batch[i].resolve(result);
          else batch[i].reject(new Error(`batch answered ${results.length} of ${batch.length} requests`));
        }
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  };
}
