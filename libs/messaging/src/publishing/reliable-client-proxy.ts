import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { createEnvelope, InvalidMessageError, isPlainObject, MESSAGE_TYPE_PATTERN } from '../envelope';
import type { PublishStatus, ReliablePublisher } from './reliable-publisher.service';

export interface ReliableClientProxyOptions {
  publisher: ReliablePublisher;
}

/**
 * The publisher behind the @nestjs/microservices ClientProxy face, for services written against
 * `client.emit(pattern, data)`. Unlike the built-in RMQ client, whose emits vanish while the broker is
 * down, `emit` here completes only once the message is confirmed or stored in the outbox, and errors
 * when neither is possible, or with InvalidMessageError (nothing sent) for a message that cannot be
 * sent as it is. The pattern is the message type; data is the payload object.
 * Register it with ClientsModule.registerAsync and `customClass: ReliableClientProxy`.
 */
export class ReliableClientProxy extends ClientProxy {
  constructor(private readonly options: ReliableClientProxyOptions) {
    super();
  }

  async connect(): Promise<void> {
    // The publisher owns its connection; nothing to open here.
  }

  async close(): Promise<void> {
    // The publisher's lifecycle belongs to the messaging module.
  }

  unwrap<T>(): T {
    return this.options.publisher as T;
  }

  protected publish(_packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({
      err: new Error('ReliableClientProxy supports emit() only: request/response (send) is not offered over the reliable publisher'),
      isDisposed: true,
    });
    return () => undefined;
  }

  protected async dispatchEvent<T = PublishStatus>(packet: ReadPacket): Promise<T> {
    const type = typeof packet.pattern === 'string' ? packet.pattern : JSON.stringify(packet.pattern);
    if (!MESSAGE_TYPE_PATTERN.test(type)) throw new InvalidMessageError(`invalid message type ${JSON.stringify(type)}`);
    if (!isPlainObject(packet.data)) throw new InvalidMessageError('the payload must be a JSON object');
    return (await this.options.publisher.publish(createEnvelope(type, packet.data))) as T;
  }
}
