/** One Redis command, as its name and arguments: ['XADD', 'stream', '*', 'field', 'value']. */
export type RedisCommand = [string, ...(string | number)[]];

/**
 * What a handler returns when its whole effect lives in Redis: the commands are run in one Lua script
 * together with the message's done mark, so the effect happens exactly once however often the message
 * is delivered. The commands must be well formed: Redis does not roll back a script that fails half way.
 * A command refused for a reason of its own (WRONGTYPE, a bad command) fails the handler with
 * RedisEffectError (retried, then dead-lettered); a refusal of the server (OOM, MISCONF, NOREPLICAS,
 * READONLY) holds the delivery like any other Redis failure of the guard.
 */
export class RedisEffect {
  private constructor(readonly commands: RedisCommand[]) {}

  /** Arguments are sent as strings, as Redis takes them, so no number is reformatted on the way through Lua. */
  static of(...commands: RedisCommand[]): RedisEffect {
    // A loop rather than destructuring and map (one handler call per delivery): the same arrays, fewer made on the way.
    const strings = new Array<RedisCommand>(commands.length);
    for (let c = 0; c < commands.length; c++) {
      const command = commands[c];
      const copy = new Array<string>(command.length) as RedisCommand;
      for (let i = 0; i < command.length; i++) copy[i] = typeof command[i] === 'string' ? command[i] : String(command[i]);
      strings[c] = copy;
    }
    return new RedisEffect(strings);
  }
}

export function isRedisEffect(value: unknown): value is RedisEffect {
  return value instanceof RedisEffect;
}
