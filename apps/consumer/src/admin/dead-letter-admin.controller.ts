import { DeadLetterQueue } from '@app/messaging';
import { ApiKeyGuard, listWindowOf, messageIdOf, selectionOf } from '@app/http-platform';
import { BadRequestException, Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';

/**
 * Operator routes for the DLQ: count, list with the failure headers, move back to the work queue.
 * Every input is checked before the broker is asked: a malformed limit or selection is a 400 saying
 * what is wrong, and moving every dead letter back takes an explicit `{"all": true}`.
 */
@UseGuards(ApiKeyGuard)
@Controller('admin/dlq')
export class DeadLetterAdminController {
  constructor(private readonly deadLetters: DeadLetterQueue) {}

  /** `?subscription=<name>` picks a subscription's DLQ; without it, the default subscription's. */
  @Get()
  async count(@Query() query: Record<string, unknown>) {
    return { count: await this.deadLetters.count(subscriptionOf(query)) };
  }

  @Get('messages')
  list(@Query() query: Record<string, unknown>) {
    // The DLQ is read from its head: there is no offset to skip to.
    if (query?.offset !== undefined) throw new BadRequestException('"offset" is not supported here: the DLQ is listed from its head');
    return this.deadLetters.list(listWindowOf(query).limit, subscriptionOf(query));
  }

  @Post('move-back')
  @HttpCode(200)
  moveBack(@Body() body: unknown, @Query() query: Record<string, unknown>) {
    return this.deadLetters.moveBack(selectionOf(body), subscriptionOf(query));
  }

  @Post(':id/move-back')
  @HttpCode(200)
  moveBackOne(@Param('id') id: string, @Query() query: Record<string, unknown>) {
    return this.deadLetters.moveBack({ ids: [messageIdOf(id)] }, subscriptionOf(query));
  }
}

function subscriptionOf(query: Record<string, unknown> | undefined): string | undefined {
  const value = query?.subscription;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new BadRequestException('"subscription" must be the name of one subscription');
  }
  return value;
}
