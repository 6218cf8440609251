import type { Channel, ChannelModel } from 'amqplib';
import type { Topology } from './topology';

/** One object the broker would not declare, and why (e.g. 404 its node is down, 403 no permission). */
export interface DeclarationFailure {
  object: string;
  error: string;
}

export interface DeclarationResult {
  /** Objects that could not be declared: something the app relies on may be missing. */
  failures: DeclarationFailure[];
  /** Objects that exist with other arguments (406 PRECONDITION_FAILED): kept as they are, and usable. */
  kept: DeclarationFailure[];
}

const EXISTS_WITH_OTHER_ARGUMENTS = /PRECONDITION_FAILED/;

/**
 * Declares every exchange, queue and binding of the topology, each on its own merit: a declaration
 * the broker refuses closes the channel it was made on, so the next one gets a fresh channel, and the
 * refusal is reported instead of stopping the rest. What this tolerates is what it cannot change: a
 * queue that exists with other arguments (an older deployment's DLQ, a delivery limit set by policy)
 * is kept as it is, and a cluster node that is down does not keep the app off the broker. Declaring an
 * existing object with equal arguments is a no-op, so every app declares the whole topology at every
 * connect and whoever starts first creates it. Never declared on a channel that carries deliveries or
 * confirms: a refusal would close it.
 */
export async function declareTopology(connection: ChannelModel, topology: Topology): Promise<DeclarationResult> {
  const failures: DeclarationFailure[] = [];
  const kept: DeclarationFailure[] = [];
  let channel: Channel | undefined;
  const attempt = async (object: string, declare: (on: Channel) => Promise<unknown>) => {
    try {
      channel ??= await openChannel(connection);
      await declare(channel);
    } catch (error) {
      const message = (error as Error).message;
      (EXISTS_WITH_OTHER_ARGUMENTS.test(message) ? kept : failures).push({ object, error: message });
      const closed = channel;
      channel = undefined;
      await closed?.close().catch(() => undefined);
    }
  };
  for (const exchange of topology.exchanges) {
    await attempt(`exchange ${exchange.name}`, (on) => on.assertExchange(exchange.name, exchange.type, exchange.options));
  }
  for (const queue of topology.queues) {
    await attempt(`queue ${queue.name}`, (on) => on.assertQueue(queue.name, queue.options));
    for (const { exchange, routingKey } of queue.bindings) {
      await attempt(`binding ${exchange} -> ${queue.name} (${routingKey})`, (on) => on.bindQueue(queue.name, exchange, routingKey));
    }
  }
  await channel?.close().catch(() => undefined);
  return { failures, kept };
}

async function openChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  // Without a listener amqplib throws a broker-closed channel's error into its frame loop and drops the
  // whole connection.
  channel.on('error', () => undefined);
  return channel;
}
