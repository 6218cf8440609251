import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  InvalidMessageError,
  MESSAGING_SETTINGS,
  MessageNotAcceptedError,
  messageIdForIdempotencyKey,
  ReliablePublisher,
  type MessagingSettings,
} from '@app/messaging';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { correlationIdOf } from './correlation-id';
import { SECURITY_HEADERS, writeError, writeJson } from './http-answer';
import { AccessRefused, SendAccess, type Admission } from './send-access';
import { InvalidRequestError, parseIdempotencyKey, parseSendMessageRequest } from './send-message.request';

/** Seconds a refused client is asked to wait before trying again. */
const RETRY_AFTER_SECONDS = '5';
const JSON_CONTENT_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/** The route's fastify config: it writes its own security headers (http-app's hook leaves them to it). */
export const SEND_ROUTE_CONFIG = { ownSecurityHeaders: true } as const;

/**
 * POST /messages, the producer's hot path, as a plain fastify route rather than a Nest controller:
 * Nest's router (guards, parameter resolution, interceptors, the exception filter, an async layer
 * each) and fastify's reply machinery were a fifth of the CPU of a request (BENCHMARKS.md). What they
 * did is done here, in the same order, with the same answers:
 *
 * 1. access (SendAccess: 401 without a valid API key, 429 over the rate limit);
 * 2. 415 unless the body is JSON (the body parser already refused what is not UTF-8 JSON, with a 400);
 * 3. 400 for a body that is not `{type, payload}` or a bad Idempotency-Key;
 * 4. the message id (new, or derived from the Idempotency-Key within the caller's API key), the
 *    correlation id (echoed in X-Correlation-Id), then ReliablePublisher: 202 `published` after the
 *    broker's confirm, 202 `pending` once the outbox holds it, 503 with Retry-After when neither took it,
 *    400/413 for a message that cannot be sent as it is. Nothing is published or stored before step 4.
 *
 * Error bodies are Nest's shape (`{message, error, statusCode}`). The OpenAPI entry is in
 * send-message.openapi.ts, since no controller describes the route.
 */
@Injectable()
export class SendMessageRoute implements OnModuleInit {
  private readonly logger = new Logger('SendMessageRoute');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly access: SendAccess,
    private readonly publisher: ReliablePublisher,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  /** Registered while Nest initialises, before the server listens (fastify takes routes until it is ready). */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.route({
      method: 'POST',
      url: '/messages',
      bodyLimit: this.settings.publishing.maxBodyBytes,
      config: SEND_ROUTE_CONFIG,
      // What fastify answers itself before the handler (the body parser's 400/413/415) gets the headers here.
      onSend: (_request, reply, payload, done) => {
        reply.headers(SECURITY_HEADERS);
        done(null, payload);
      },
      handler: (request, reply) => this.handle(request, reply),
    });
  }

  handle(request: FastifyRequest, reply: FastifyReply): void {
    // Answered on the raw response (http-answer.ts); fastify's reply is not used past this line.
    reply.hijack();
    const response = reply.raw;
    let admission: Admission | Promise<Admission>;
    try {
      admission = this.access.admit(request);
    } catch (error) {
      return this.fail(response, error);
    }
    if (admission instanceof Promise) {
      admission.then(
        (admitted) => this.send(request, response, admitted),
        (error: unknown) => this.fail(response, error),
      );
    } else {
      this.send(request, response, admission);
    }
  }

  private send(request: FastifyRequest, response: ServerResponse, admission: Admission): void {
    const contentType = request.headers['content-type'];
    if (contentType !== 'application/json' && (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType))) {
      return writeError(response, 415, 'Content-Type must be application/json', admission.headers);
    }
    let type: string;
    let payload: Record<string, unknown>;
    let key: string | undefined;
    try {
      ({ type, payload } = parseSendMessageRequest(request.body));
      key = parseIdempotencyKey(request.headers['idempotency-key']);
    } catch (error) {
      if (error instanceof InvalidRequestError) return writeError(response, 400, error.message, admission.headers);
      return this.fail(response, error);
    }
    const id = key === undefined ? randomUUID() : messageIdForIdempotencyKey(key, admission.apiKeyId ?? '');
    const correlationId = correlationIdOf(request.headers);
    const headers = ['x-correlation-id', correlationId, ...admission.headers];
    this.publisher.publishNew(type, payload, id, { correlationId }).then(
      (status) => writeJson(response, 202, `{"id":${JSON.stringify(id)},"status":"${status}"}`, headers),
      (error: unknown) => this.refuse(response, error, headers),
    );
  }

  /** The publisher refused the message: the client's to fix (400/413), or to retry later (503). */
  private refuse(response: ServerResponse, error: unknown, headers: readonly string[]): void {
    if (error instanceof InvalidMessageError) return writeError(response, error.tooLarge ? 413 : 400, error.message, headers);
    if (error instanceof MessageNotAcceptedError) {
      return writeError(response, 503, 'message not accepted: neither the broker nor the outbox is available; retry later', [
        ...headers,
        'retry-after',
        RETRY_AFTER_SECONDS,
      ]);
    }
    this.fail(response, error, headers);
  }

  /** Access refusals, and what nothing here expects: a 500 with Nest's body, logged as Nest's filter would. */
  private fail(response: ServerResponse, error: unknown, headers: readonly string[] = []): void {
    if (error instanceof AccessRefused) return writeError(response, error.status, error.message, error.headers);
    this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    writeJson(response, 500, '{"statusCode":500,"message":"Internal server error"}', headers);
  }
}
