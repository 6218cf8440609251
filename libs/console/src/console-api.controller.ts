import { ApiKeyGuard, listWindowOf } from '@app/http-platform';
import { Body, Controller, Get, Header, HttpCode, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ConsoleCounters } from './console-counters.service';
import { ConsoleDeadLetters } from './console-dead-letters.service';
import { ConsoleOutbox } from './console-outbox.service';
import { ConsoleQueues } from './console-queues.service';
import { letterSelectionOf, outboxIdsOf, searchTermOf } from './console-requests';

/** A part of the page that could not be read says why, and the other parts are still shown. */
async function part<T>(read: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await read();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The console's data, behind the API key (when API_KEYS is set) like every admin route. */
@UseGuards(ApiKeyGuard)
@Controller('console/api')
export class ConsoleApiController {
  constructor(
    private readonly counters: ConsoleCounters,
    private readonly deadLetters: ConsoleDeadLetters,
    private readonly outbox: ConsoleOutbox,
    private readonly queues: ConsoleQueues,
  ) {}

  @Get('overview')
  @Header('Cache-Control', 'no-store')
  async overview() {
    const deadLetterQueues = await part(() => this.deadLetters.deadLetterQueues());
    const [counters, outbox, queues, deadLetters, groups] = await Promise.all([
      part(() => this.counters.read()),
      part(() => this.outbox.counts()),
      part(() => this.queues.states(Array.isArray(deadLetterQueues) ? deadLetterQueues : [])),
      part(() => this.deadLetters.agreement()),
      part(() => this.deadLetters.groups()),
    ]);
    return { counters, outbox, queues, deadLetters, groups };
  }

  @Get('dead-letters/:queue/groups/:group')
  @Header('Cache-Control', 'no-store')
  groupLetters(@Param('queue') queue: string, @Param('group') group: string, @Query() query: Record<string, unknown>) {
    const { offset, limit } = listWindowOf(query, 50);
    return this.deadLetters.groupLetters(queue, group, offset, limit);
  }

  @Get('dead-letters/:queue/letters/:key')
  @Header('Cache-Control', 'no-store')
  async letter(@Param('queue') queue: string, @Param('key') key: string) {
    const letter = await this.deadLetters.letter(queue, key);
    if (!letter) throw new NotFoundException(`no dead letter ${key} in ${queue} (retried or deleted meanwhile?)`);
    return letter;
  }

  @Post('dead-letters/retry')
  @HttpCode(200)
  retry(@Body() body: unknown) {
    return this.deadLetters.retry(letterSelectionOf(body));
  }

  @Post('dead-letters/delete')
  @HttpCode(200)
  delete(@Body() body: unknown) {
    return this.deadLetters.delete(letterSelectionOf(body));
  }

  @Post('dead-letters/:queue/reconcile')
  @HttpCode(200)
  reconcile(@Param('queue') queue: string) {
    return this.deadLetters.reconcile(queue);
  }

  @Get('outbox/:state')
  @Header('Cache-Control', 'no-store')
  outboxList(@Param('state') state: string, @Query() query: Record<string, unknown>) {
    if (state !== 'pending' && state !== 'parked') throw new NotFoundException('the outbox has "pending" and "parked" messages');
    const { offset, limit } = listWindowOf(query, 50);
    return this.outbox.list(state, offset, limit);
  }

  @Post('outbox/retry')
  @HttpCode(200)
  async outboxRetry(@Body() body: unknown) {
    return { retried: await this.outbox.retry(outboxIdsOf(body)) };
  }

  @Get('search')
  @Header('Cache-Control', 'no-store')
  async search(@Query('q') q: unknown) {
    const term = searchTermOf(q);
    const [deadLetters, outbox] = await Promise.all([part(() => this.deadLetters.search(term)), part(() => this.outbox.search(term))]);
    return { term, deadLetters, outbox };
  }
}
