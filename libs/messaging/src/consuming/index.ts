export * from './consumer-handler';
export * from './failure-router';
export * from './idempotent.decorator';
export * from './idempotent-handling';
export * from './in-flight-deliveries';
export * from './background-subscription';
export * from './consumer-drain.service';
export * from './dead-letter-queue.service';
