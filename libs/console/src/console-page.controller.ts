import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CONSOLE_CSP, CONSOLE_PAGE, CONSOLE_SCRIPT, CONSOLE_STYLE } from './assets';

/**
 * The console page and its two assets. They hold no data, so they are served without an API key;
 * every data call behind them needs one (console-api.controller.ts). The policy header keeps the page
 * to this app: a browser refuses any other origin.
 */
@Controller('console')
export class ConsolePageController {
  @Get()
  page(@Res({ passthrough: true }) reply: FastifyReply): string {
    return this.send(reply, 'text/html; charset=utf-8', CONSOLE_PAGE);
  }

  @Get('console.js')
  script(@Res({ passthrough: true }) reply: FastifyReply): string {
    return this.send(reply, 'text/javascript; charset=utf-8', CONSOLE_SCRIPT);
  }

  @Get('console.css')
  style(@Res({ passthrough: true }) reply: FastifyReply): string {
    return this.send(reply, 'text/css; charset=utf-8', CONSOLE_STYLE);
  }

  private send(reply: FastifyReply, type: string, body: string): string {
    reply.header('Content-Type', type).header('Content-Security-Policy', CONSOLE_CSP).header('Cache-Control', 'no-cache');
    return body;
  }
}
