import { OutboxStore, type OutboxEntry } from '@app/messaging';
import { ApiKeyGuard, listWindowOf, messageIdOf, selectionOf } from '@app/http-platform';
import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBody, ApiQuery, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

const view = (entry: OutboxEntry) => ({
  id: entry.id,
  type: entry.type,
  correlationId: entry.correlationId,
  storedAt: new Date(entry.storedAt).toISOString(),
  attempts: entry.attempts,
  lastError: entry.lastError,
});

const SELECTION_SCHEMA: SchemaObject = {
  oneOf: [
    {
      type: 'object',
      required: ['ids'],
      additionalProperties: false,
      properties: { ids: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 200 } } },
    },
    { type: 'object', required: ['all'], additionalProperties: false, properties: { all: { type: 'boolean', enum: [true] } } },
  ],
};

/**
 * Operator routes for the outbox: what waits, what is parked, and putting parked messages back in
 * line. Every input is checked before Redis is asked: a malformed list window or selection is a 400
 * saying what is wrong, and retrying every parked message takes an explicit `{"all": true}`.
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@UseGuards(ApiKeyGuard)
@Controller('admin/outbox')
export class OutboxAdminController {
  constructor(private readonly outbox: OutboxStore) {}

  @Get()
  counts() {
    return this.outbox.counts();
  }

  @Get('pending')
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000 (default 100)' })
  @ApiQuery({ name: 'offset', required: false, description: '0 to 1000000000 (default 0)' })
  @ApiResponse({ status: 400, description: 'limit or offset is not a whole number within its bounds.' })
  listPending(@Query() query: Record<string, unknown>) {
    return this.list('pending', query);
  }

  @Get('parked')
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000 (default 100)' })
  @ApiQuery({ name: 'offset', required: false, description: '0 to 1000000000 (default 0)' })
  @ApiResponse({ status: 400, description: 'limit or offset is not a whole number within its bounds.' })
  listParked(@Query() query: Record<string, unknown>) {
    return this.list('parked', query);
  }

  @Post('parked/retry')
  @HttpCode(200)
  @ApiBody({ schema: SELECTION_SCHEMA, description: '{"ids": [...]} retries those parked messages; {"all": true} every one.' })
  @ApiResponse({ status: 400, description: 'Not exactly {"ids": [1 to 1000 ids]} or {"all": true}.' })
  async retryParked(@Body() body: unknown) {
    return { retried: await this.outbox.unpark(selectionOf(body)) };
  }

  @Post('parked/:id/retry')
  @HttpCode(200)
  async retryOne(@Param('id') id: string) {
    return { retried: await this.outbox.unpark({ ids: [messageIdOf(id)] }) };
  }

  private async list(state: 'pending' | 'parked', query: Record<string, unknown>) {
    const { limit, offset } = listWindowOf(query);
    return (await this.outbox.list(state, limit, offset)).map(view);
  }
}
