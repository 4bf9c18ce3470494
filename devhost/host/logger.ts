/** The devhost's console. Levels below `minLevel` are dropped (tests run at `warn`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DevhostLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createConsoleLogger(minLevel: LogLevel = 'info'): DevhostLogger {
  const write = (level: LogLevel, message: string): void => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const line = `[${new Date().toISOString()}] ${message}\n`;
    if (level === 'error' || level === 'warn') process.stderr.write(line);
    else process.stdout.write(line);
  };
  return {
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
  };
}
