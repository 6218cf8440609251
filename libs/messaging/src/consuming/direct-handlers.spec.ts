import { RabbitHeader, RabbitPayload, RabbitRequest, RabbitSubscribe } from '@golevelup/nestjs-rabbitmq';
import { UseInterceptors, type CallHandler, type NestInterceptor } from '@nestjs/common';
import { DirectHandlers, globalEnhancersOf, type GlobalEnhancers } from './direct-handlers';

class Passing implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler) {
    return next.handle();
  }
}

class Handlers {
  @RabbitSubscribe({ name: 'whole' })
  // eslint-disable-next-line @typescript-eslint/require-await
  async whole(@RabbitRequest() delivery: unknown, _unused: unknown, @RabbitPayload() message: unknown, @RabbitHeader() headers: unknown) {
    return { delivery, message, headers, self: this };
  }

  @RabbitSubscribe({ name: 'property' })
  async property(@RabbitPayload('id') id: unknown) {
    return Promise.resolve(id);
  }

  @RabbitSubscribe({ name: 'intercepted' })
  @UseInterceptors(Passing)
  async intercepted(@RabbitPayload() message: unknown) {
    return Promise.resolve(message);
  }
}

const none = (): GlobalEnhancers => ({
  getGlobalGuards: () => [],
  getGlobalInterceptors: () => [],
  getGlobalPipes: () => [],
  getGlobalFilters: () => [],
  getGlobalRequestGuards: () => [],
  getGlobalRequestInterceptors: () => [],
  getGlobalRequestPipes: () => [],
  getGlobalRequestFilters: () => [],
});

function registry(instance = new Handlers()) {
  const direct = new DirectHandlers();
  for (const key of ['whole', 'property', 'intercepted']) direct.add(instance, key);
  return { direct, instance };
}

describe('DirectHandlers', () => {
  it("calls a handler with golevelup's values where its parameter decorators put them, on its instance", async () => {
    const { direct, instance } = registry();
    const handler = direct.handlerFor('whole', none());
    expect(handler).toBeDefined();
    expect(await handler!('message', 'delivery', 'headers')).toEqual({
      delivery: 'delivery',
      message: 'message',
      headers: 'headers',
      self: instance,
    });
  });

  it("leaves to Nest's pipeline what only it resolves: a property of the payload, an interceptor, a global enhancer", () => {
    const { direct } = registry();
    expect(direct.handlerFor('property', none())).toBeUndefined();
    expect(direct.handlerFor('intercepted', none())).toBeUndefined();
    expect(direct.handlerFor('whole', { ...none(), getGlobalInterceptors: () => [new Passing()] })).toBeUndefined();
    expect(direct.handlerFor('whole', { ...none(), getGlobalRequestPipes: () => [{}] })).toBeUndefined();
    expect(direct.handlerFor('whole', undefined)).toBeUndefined();
    expect(direct.handlerFor('unknown', none())).toBeUndefined();
    expect(direct.handlerFor(undefined, none())).toBeUndefined();
  });

  it('leaves a subscription name with two handlers to Nest (which one golevelup subscribes is not known here)', () => {
    const { direct } = registry();
    direct.add(new Handlers(), 'whole');
    expect(direct.handlerFor('whole', none())).toBeUndefined();
  });

  it("reads the global enhancers from Nest's ExternalContextCreator, or says they are unknown", () => {
    const config = none();
    expect(globalEnhancersOf({ guardsContextCreator: { config } })).toBe(config);
    expect(globalEnhancersOf({ guardsContextCreator: { config: { getGlobalGuards: () => [] } } })).toBeUndefined();
    expect(globalEnhancersOf({})).toBeUndefined();
    expect(globalEnhancersOf(undefined)).toBeUndefined();
  });
});
