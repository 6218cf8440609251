import { getSchemaPath, type OpenAPIObject } from '@nestjs/swagger';
import { SendMessageDto, SendMessageResponseDto } from './send-message.dto';

/** The models the entry refers to: pass them as `extraModels` when the document is created. */
export const SEND_MESSAGE_MODELS = [SendMessageDto, SendMessageResponseDto];

const error = (description: string) => ({ description });

/**
 * The OpenAPI entry of POST /messages. The route is a plain fastify route (SendMessageRoute), which
 * Nest's document builder does not see, so its entry is written here, next to the route's models.
 */
export function documentSendMessageRoute(document: OpenAPIObject): OpenAPIObject {
  document.paths['/messages'] = {
    post: {
      operationId: 'sendMessage',
      tags: ['messages'],
      security: [{ 'api-key': [] }],
      summary: 'Accept a message: published with a broker confirm, or stored for replay',
      parameters: [
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'The same key always yields the same message id.',
          schema: { type: 'string' },
        },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: getSchemaPath(SendMessageDto) } } } },
      responses: {
        '202': {
          description: 'Accepted: confirmed by the broker (published) or durably stored for replay (pending).',
          content: { 'application/json': { schema: { $ref: getSchemaPath(SendMessageResponseDto) } } },
        },
        '400': error(
          'Invalid body or header: not UTF-8 JSON, a bad type, a payload that is not an object, nested deeper than MAX_PAYLOAD_DEPTH or holding a number out of range.',
        ),
        '401': error('API keys are configured and none was given.'),
        '413': error('Body over MAX_BODY_BYTES, or the message in its envelope over the broker limit.'),
        '415': error('Body is not application/json (or application/*+json), or its charset is not UTF-8.'),
        '429': error('Rate limit exceeded (counted per API key; per client address without keys); see Retry-After.'),
        '503': error('Neither the broker nor the outbox can take the message; see Retry-After.'),
      },
    },
  };
  return document;
}
