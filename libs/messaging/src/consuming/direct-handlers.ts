import { RABBIT_HANDLER, RABBIT_HEADER_TYPE, RABBIT_PARAM_TYPE, RABBIT_REQUEST_TYPE } from '@golevelup/nestjs-rabbitmq';
import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  PIPES_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants';

/** What golevelup calls per delivery: the deserialized message, the amqplib delivery, its headers. */
export type DeliveryHandler = (message: unknown, delivery?: unknown, headers?: unknown) => Promise<unknown>;

/** Where each of golevelup's three values goes: the parameter decorator types and their position in the call. */
const SOURCE_OF_TYPE = new Map<number, number>([
  [RABBIT_PARAM_TYPE, 0],
  [RABBIT_REQUEST_TYPE, 1],
  [RABBIT_HEADER_TYPE, 2],
]);
const ENHANCERS = [GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA, EXCEPTION_FILTERS_METADATA];

/** The global enhancers of the app, as Nest's ApplicationConfig keeps them. */
export interface GlobalEnhancers {
  getGlobalGuards(): unknown[];
  getGlobalInterceptors(): unknown[];
  getGlobalPipes(): unknown[];
  getGlobalFilters(): unknown[];
  getGlobalRequestGuards(): unknown[];
  getGlobalRequestInterceptors(): unknown[];
  getGlobalRequestPipes(): unknown[];
  getGlobalRequestFilters(): unknown[];
}

/**
 * The argument list golevelup's values make for a method, when each parameter is a whole
 * `@RabbitPayload()`, `@RabbitRequest()` or `@RabbitHeader()` without pipes: what Nest's parameter
 * factory would pass. Undefined for anything else (a property of the payload, a pipe, a custom
 * decorator), which only Nest's pipeline resolves.
 */
export function argumentSources(target: object, key: string | symbol): number[] | undefined {
  const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}) as Record<
    string,
    { index: number; data?: unknown; pipes?: unknown[] }
  >;
  const sources: number[] = [];
  for (const [name, param] of Object.entries(params)) {
    const source = SOURCE_OF_TYPE.get(Number(name.split(':')[0]));
    // golevelup records `@RabbitPayload()` with a pipe list of [undefined]: only a real pipe counts.
    if (source === undefined || param.data !== undefined || (param.pipes ?? []).some(Boolean)) return undefined;
    sources[param.index] = source;
  }
  return sources;
}

/** True when a guard, interceptor, pipe or filter applies to the method (on it, its class, or globally). */
export function hasEnhancers(instance: object, key: string | symbol, globals: GlobalEnhancers | undefined): boolean {
  if (!globals) return true; // not knowable: Nest's pipeline decides
  const method = (instance as Record<string | symbol, unknown>)[key] as object;
  const declared = ENHANCERS.some(
    (meta) =>
      ((Reflect.getMetadata(meta, method) as unknown[] | undefined)?.length ?? 0) > 0 ||
      ((Reflect.getMetadata(meta, instance.constructor) as unknown[] | undefined)?.length ?? 0) > 0,
  );
  return (
    declared ||
    [
      globals.getGlobalGuards(),
      globals.getGlobalInterceptors(),
      globals.getGlobalPipes(),
      globals.getGlobalFilters(),
      globals.getGlobalRequestGuards(),
      globals.getGlobalRequestInterceptors(),
      globals.getGlobalRequestPipes(),
      globals.getGlobalRequestFilters(),
    ].some((list) => list.length > 0)
  );
}

/**
 * The app's global enhancers, read from the ExternalContextCreator golevelup builds its handlers
 * with (its guards' context creator holds Nest's ApplicationConfig); undefined when this Nest version
 * keeps them elsewhere, and then every handler keeps Nest's pipeline.
 */
export function globalEnhancersOf(externalContextCreator: unknown): GlobalEnhancers | undefined {
  const config = (externalContextCreator as { guardsContextCreator?: { config?: Partial<GlobalEnhancers> } } | undefined)
    ?.guardsContextCreator?.config;
  const complete =
    config !== undefined &&
    (
      [
        'getGlobalGuards',
        'getGlobalInterceptors',
        'getGlobalPipes',
        'getGlobalFilters',
        'getGlobalRequestGuards',
        'getGlobalRequestInterceptors',
        'getGlobalRequestPipes',
        'getGlobalRequestFilters',
      ] as const
    ).every((name) => typeof config[name] === 'function');
  return complete ? (config as GlobalEnhancers) : undefined;
}

/**
 * Calls guarded handlers (@Subscribe, @Idempotent) directly rather than through Nest's external
 * context, when nothing of that context applies to them: golevelup wraps each handler in Nest's
 * pipeline (parameter pipes resolved one promise each, guards, interceptors, an exception filter
 * proxy), about eight promise frames per delivery that do nothing without enhancers, a tenth of the
 * consumer's CPU at high prefetch (BENCHMARKS.md). A handler with any enhancer (its own, its class's
 * or a global one), or a parameter only Nest can resolve, keeps Nest's pipeline, and so does a
 * subscription name with more than one handler.
 */
export class DirectHandlers {
  private readonly byName = new Map<string, { instance: object; key: string | symbol; sources: number[] } | null>();

  /** A guarded method of a provider or controller (IdempotentHandling finds them at start). */
  add(instance: object, key: string | symbol): void {
    const method = (instance as Record<string | symbol, unknown>)[key] as object;
    const name = (Reflect.getMetadata(RABBIT_HANDLER, method) as { name?: string } | undefined)?.name;
    if (name === undefined) return;
    const sources = argumentSources(Object.getPrototypeOf(instance) as object, key);
    // Two handlers of one name: which one golevelup is subscribing cannot be told here.
    this.byName.set(name, this.byName.has(name) || !sources ? null : { instance, key, sources });
  }

  /** The direct handler of a subscription name, or undefined (Nest's pipeline then). */
  handlerFor(name: string | undefined, globals: GlobalEnhancers | undefined): DeliveryHandler | undefined {
    const found = name === undefined ? undefined : this.byName.get(name);
    if (!found || hasEnhancers(found.instance, found.key, globals)) return undefined;
    const { instance, key, sources } = found;
    const method = (instance as Record<string | symbol, (...args: unknown[]) => Promise<unknown>>)[key];
    return (message, delivery, headers) => {
      const values = [message, delivery, headers];
      const args = new Array<unknown>(sources.length);
      for (let i = 0; i < sources.length; i++) args[i] = sources[i] === undefined ? undefined : values[sources[i]];
      return method.apply(instance, args);
    };
  }
}
