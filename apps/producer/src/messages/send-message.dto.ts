import { ApiProperty } from '@nestjs/swagger';

export class SendMessageDto {
  @ApiProperty({ example: 'order.created', pattern: '^[a-zA-Z0-9._-]{1,128}$', description: 'Message type; also the routing key.' })
  type!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { orderId: 42 },
    description: 'Any JSON object, nested at most MAX_PAYLOAD_DEPTH (default 64) levels, numbers within the range of a double.',
  })
  payload!: Record<string, unknown>;
}

export class SendMessageResponseDto {
  @ApiProperty({ example: '3f0e8f5c-4a8e-4b5e-9a53-3c1f0e9d2b7a' })
  id!: string;

  @ApiProperty({ enum: ['published', 'pending'], description: 'published: confirmed by the broker; pending: stored for replay.' })
  status!: 'published' | 'pending';
}
