import { ApiKeyGuard, DeadLetterQueue } from '@app/messaging';
import { Body, Controller, DefaultValuePipe, Get, HttpCode, Param, ParseIntPipe, Post, Query, UseGuards } from '@nestjs/common';

/** Operator routes for the DLQ: count, list with the failure headers, move back to the work queue. */
@UseGuards(ApiKeyGuard)
@Controller('admin/dlq')
export class DeadLetterAdminController {
  constructor(private readonly deadLetters: DeadLetterQueue) {}

  @Get()
  async count() {
    return { count: await this.deadLetters.count() };
  }

  @Get('messages')
  list(@Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number) {
    return this.deadLetters.list(Math.min(Math.max(limit, 1), 1000));
  }

  @Post('move-back')
  @HttpCode(200)
  moveBack(@Body() body: { ids?: unknown } | undefined) {
    const ids = Array.isArray(body?.ids) ? body.ids.filter((id): id is string => typeof id === 'string') : [];
    return this.deadLetters.moveBack(ids);
  }

  @Post(':id/move-back')
  @HttpCode(200)
  moveBackOne(@Param('id') id: string) {
    return this.deadLetters.moveBack([id]);
  }
}
