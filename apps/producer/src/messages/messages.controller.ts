import { randomUUID } from 'node:crypto';
import {
  createEnvelope,
  InvalidMessageError,
  MessageNotAcceptedError,
  messageIdForIdempotencyKey,
  ReliablePublisher,
} from '@app/messaging';
import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  PayloadTooLargeException,
  Post,
  Req,
  Res,
  ServiceUnavailableException,
  UnsupportedMediaTypeException,
  UseGuards,
} from '@nestjs/common';
import { ApiHeader, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { correlationIdOf } from './correlation-id';
import { SendAccessGuard } from './send-access.guard';
import { SendMessageDto, SendMessageResponseDto } from './send-message.dto';
import { InvalidRequestError, parseIdempotencyKey, parseSendMessageRequest } from './send-message.request';

/** Seconds a refused client is asked to wait before trying again. */
const RETRY_AFTER_SECONDS = '5';

@ApiTags('messages')
@ApiSecurity('api-key')
@UseGuards(SendAccessGuard)
@Controller('messages')
export class MessagesController {
  constructor(private readonly publisher: ReliablePublisher) {}

  @Post()
  @HttpCode(202)
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'The same key always yields the same message id.' })
  @ApiResponse({ status: 202, type: SendMessageResponseDto })
  @ApiResponse({
    status: 400,
    description:
      'Invalid body or header: not UTF-8 JSON, a bad type, a payload that is not an object, nested deeper than MAX_PAYLOAD_DEPTH or holding a number out of range.',
  })
  @ApiResponse({ status: 413, description: 'Body over MAX_BODY_BYTES, or the message in its envelope over the broker limit.' })
  @ApiResponse({ status: 415, description: 'Body is not application/json (or application/*+json), or its charset is not UTF-8.' })
  @ApiResponse({ status: 401, description: 'API keys are configured and none was given.' })
  @ApiResponse({ status: 429, description: 'Rate limit exceeded (counted per API key; per client address without keys); see Retry-After.' })
  @ApiResponse({ status: 503, description: 'Neither the broker nor the outbox can take the message; see Retry-After.' })
  async send(
    @Body() body: SendMessageDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SendMessageResponseDto> {
    if (!isJson(request.headers['content-type'])) throw new UnsupportedMediaTypeException('Content-Type must be application/json');
    const { type, payload, key } = this.parse(body, request);
    const id = key === undefined ? randomUUID() : messageIdForIdempotencyKey(key, idempotencyScopeOf(request));
    const correlationId = correlationIdOf(request.headers);
    reply.header('X-Correlation-Id', correlationId);
    try {
      const status = await this.publisher.publish(createEnvelope(type, payload, id), { correlationId });
      return { id, status };
    } catch (error) {
      // Refused before anything was sent or stored: the client's to fix, not to retry.
      if (error instanceof InvalidMessageError)
        throw error.tooLarge ? new PayloadTooLargeException(error.message) : new BadRequestException(error.message);
      if (!(error instanceof MessageNotAcceptedError)) throw error;
      reply.header('Retry-After', RETRY_AFTER_SECONDS);
      throw new ServiceUnavailableException('message not accepted: neither the broker nor the outbox is available; retry later');
    }
  }

  private parse(body: unknown, request: FastifyRequest) {
    try {
      return { ...parseSendMessageRequest(body), key: parseIdempotencyKey(request.headers['idempotency-key']) };
    } catch (error) {
      if (error instanceof InvalidRequestError) throw new BadRequestException(error.message);
      throw error;
    }
  }
}

const JSON_CONTENT_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

function isJson(contentType: string | undefined): boolean {
  // The common case without the regular expression.
  return contentType === 'application/json' || (contentType !== undefined && JSON_CONTENT_TYPE.test(contentType));
}

/** Idempotency keys are scoped to the caller's API key, so one client cannot suppress another's messages. */
function idempotencyScopeOf(request: FastifyRequest): string {
  return (request as FastifyRequest & { apiKeyId?: string }).apiKeyId ?? '';
}
