import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import {
  MESSAGING_SETTINGS,
  SharedQueueStates,
  topologyQueues,
  type MessagingSettings,
  type QueueState,
  type TopologyQueue,
} from '@app/messaging';
import { Inject, Injectable, Logger } from '@nestjs/common';

/** How long a console request waits for the broker's answer about the queues before it shows them as unanswered. */
export const CONSOLE_QUEUE_READ_TIMEOUT_MS = 2000;

/**
 * Depth and consumers of each queue of the topology, live from the broker (see readQueueStates). An
 * open console page polls this every few seconds: a read still unanswered (a connection the broker
 * blocks, a stalled link) is shared by the polls that follow it, not repeated on a new channel each time.
 */
@Injectable()
export class ConsoleQueues {
  private readonly logger = new Logger(ConsoleQueues.name);
  /** Every subscription's work queue and DLQ (the default one alone unless the app declares more), then the delay queues. */
  private readonly roles: TopologyQueue[];
  private readonly reads: SharedQueueStates;

  constructor(amqp: AmqpConnection, @Inject(MESSAGING_SETTINGS) settings: MessagingSettings) {
    this.roles = topologyQueues(settings);
    this.reads = new SharedQueueStates(
      () => amqp.managedConnection?.connection,
      (error) => this.logger.debug({ error: error.message }, 'console queue channel closed by the broker'),
      CONSOLE_QUEUE_READ_TIMEOUT_MS,
    );
  }

  /** Every queue's state; a queue the broker does not know is reported as such, the others still are. */
  states(extraDeadLetterQueues: string[] = []): Promise<QueueState[]> {
    const queues = [
      ...this.roles,
      ...extraDeadLetterQueues.filter((name) => !this.roles.some((r) => r.name === name)).map((name) => ({ name, role: 'dead letters' })),
    ];
    return this.reads.read(queues);
  }

  /** Messages ready in one queue, or undefined when it cannot be read. */
  async depth(name: string): Promise<number | undefined> {
    const [state] = await this.statesOf([name]);
    return state && 'messages' in state ? state.messages : undefined;
  }

  private async statesOf(names: string[]): Promise<QueueState[]> {
    return (await this.states(names)).filter((state) => names.includes(state.name));
  }
}
