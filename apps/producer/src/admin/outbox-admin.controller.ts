import { ApiKeyGuard, OutboxStore, type OutboxEntry } from '@app/messaging';
import { Body, Controller, Get, HttpCode, Param, ParseIntPipe, DefaultValuePipe, Post, Query, UseGuards } from '@nestjs/common';
import { ApiSecurity, ApiTags } from '@nestjs/swagger';

const view = (entry: OutboxEntry) => ({
  id: entry.id,
  type: entry.type,
  correlationId: entry.correlationId,
  storedAt: new Date(entry.storedAt).toISOString(),
  attempts: entry.attempts,
  lastError: entry.lastError,
});

/** Operator routes for the outbox: what waits, what is parked, and putting parked messages back in line. */
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
  listPending(
    @Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number,
    @Query('offset', new DefaultValuePipe(0), ParseIntPipe) offset: number,
  ) {
    return this.list('pending', limit, offset);
  }

  @Get('parked')
  listParked(
    @Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number,
    @Query('offset', new DefaultValuePipe(0), ParseIntPipe) offset: number,
  ) {
    return this.list('parked', limit, offset);
  }

  @Post('parked/retry')
  @HttpCode(200)
  async retryParked(@Body() body: { ids?: unknown } | undefined) {
    const ids = Array.isArray(body?.ids) ? body.ids.filter((id): id is string => typeof id === 'string') : [];
    return { retried: await this.outbox.unpark(ids) };
  }

  @Post('parked/:id/retry')
  @HttpCode(200)
  async retryOne(@Param('id') id: string) {
    return { retried: await this.outbox.unpark([id]) };
  }

  private async list(state: 'pending' | 'parked', limit: number, offset: number) {
    return (await this.outbox.list(state, Math.min(Math.max(limit, 1), 1000), Math.max(offset, 0))).map(view);
  }
}
