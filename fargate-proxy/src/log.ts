import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs on stderr (stdout is for what the CLI prints). Fields that could carry a
 * secret are censored by name as a second line of defence: code never logs them on purpose.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'airlock' },
      redact: {
        paths: ['password', 'token', 'secret', 'credential', 'authorization', '*.password', '*.token', '*.secret', '*.credential', '*.authorization', '*.clientSecret'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
