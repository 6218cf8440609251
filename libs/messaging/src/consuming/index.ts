export * from './consumer-handler';
export * from './failure-router';
export * from './idempotent.decorator';
export * from './idempotency.interceptor';
export * from './in-flight-deliveries';
export * from './background-subscription';
export * from './consumer-drain.service';
export * from './dead-letter-queue.service';
