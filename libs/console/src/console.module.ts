import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import {
  DeadLetterIndex,
  DeadLetterQueue,
  MESSAGING_REDIS,
  MESSAGING_SETTINGS,
  MessagingMetrics,
  resolveSubscriptions,
  TopologyKeeper,
  type MessagingSettings,
} from '@app/messaging';
import { Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type Redis from 'ioredis';
import { ConsoleApiController } from './console-api.controller';
import { ConsoleCounters } from './console-counters.service';
import { ConsoleDeadLetters } from './console-dead-letters.service';
import { ConsoleOutbox } from './console-outbox.service';
import { ConsolePageController } from './console-page.controller';
import { ConsoleQueues } from './console-queues.service';
import { CONSOLE_DEAD_LETTER_INDEX, CONSOLE_DEAD_LETTER_QUEUE } from './console-tokens';

/** The consumer's own DeadLetterQueue when the app has one; else (the producer) one of the console's, on the same broker connection. */
function deadLetterQueueFor(moduleRef: ModuleRef, index: DeadLetterIndex): DeadLetterQueue {
  try {
    return moduleRef.get(DeadLetterQueue, { strict: false });
  } catch {
    const amqp = moduleRef.get(AmqpConnection, { strict: false });
    const settings = moduleRef.get<MessagingSettings>(MESSAGING_SETTINGS, { strict: false });
    const keeper = new TopologyKeeper(settings);
    keeper.bind(() => amqp.managedConnection.connection);
    return new DeadLetterQueue(amqp, resolveSubscriptions(settings), moduleRef.get(MessagingMetrics, { strict: false }), keeper, index);
  }
}

/**
 * The operator console (GET /console): dead letters, the outbox and live counters on one page, served
 * by either app. An operations room: it reads the messaging library's stores and services (the
 * MessagingModule an app already has), and nothing in the library imports it.
 */
@Module({
  controllers: [ConsolePageController, ConsoleApiController],
  providers: [
    {
      provide: CONSOLE_DEAD_LETTER_INDEX,
      inject: [MESSAGING_REDIS, MESSAGING_SETTINGS],
      useFactory: (redis: Redis, settings: MessagingSettings) => new DeadLetterIndex(redis, settings.names.redisKeyPrefix),
    },
    {
      provide: CONSOLE_DEAD_LETTER_QUEUE,
      inject: [ModuleRef, CONSOLE_DEAD_LETTER_INDEX],
      // Looked up at first use: during start-up the app's own instance may not be constructed yet.
      useFactory: (moduleRef: ModuleRef, index: DeadLetterIndex) => {
        let queue: DeadLetterQueue | undefined;
        return () => (queue ??= deadLetterQueueFor(moduleRef, index));
      },
    },
    ConsoleCounters,
    ConsoleDeadLetters,
    ConsoleOutbox,
    ConsoleQueues,
  ],
})
export class ConsoleModule {}
