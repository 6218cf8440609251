import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import {
  MESSAGING_SETTINGS,
  readQueueStates,
  topologyQueues,
  type MessagingSettings,
  type QueueState,
  type TopologyQueue,
} from '@app/messaging';
import { Inject, Injectable, Logger } from '@nestjs/common';

/** Depth and consumers of each queue of the topology, live from the broker (see readQueueStates). */
@Injectable()
export class ConsoleQueues {
  private readonly logger = new Logger(ConsoleQueues.name);
  /** Every subscription's work queue and DLQ (the default one alone unless the app declares more), then the delay queues. */
  private readonly roles: TopologyQueue[];

  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.roles = topologyQueues(settings);
  }

  /** Every queue's state; a queue the broker does not know is reported as such, the others still are. */
  states(extraDeadLetterQueues: string[] = []): Promise<QueueState[]> {
    const queues = [
      ...this.roles,
      ...extraDeadLetterQueues.filter((name) => !this.roles.some((r) => r.name === name)).map((name) => ({ name, role: 'dead letters' })),
    ];
    return readQueueStates(this.amqp.managedConnection.connection, queues, (error) =>
      this.logger.debug({ error: error.message }, 'console queue channel closed by the broker'),
    );
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
