import { randomUUID } from 'crypto';
import type { NextFunction, Request, Response } from 'express';
import pino from 'pino';

export type Logger = pino.Logger;

/**
 * JSON lines on stdout, written asynchronously in 4 KiB chunks so logging never sits on a
 * request's path (the durable record is the event store, not the log). flushLogs() on shutdown.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const dest =
    destination ?? (level === 'silent' ? undefined : pino.destination({ dest: 1, sync: false, minLength: 4096 }));
  return pino({ level, base: { service: 'cpreg-ledger' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

const HEADER_ID = /^[\x21-\x7e]{1,128}$/;

/** A request id per request (the client's X-Request-Id when it is sane), and one log line per answer. */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const requestId = given && HEADER_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // Never headers or bodies: they may carry tokens.
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          actor: res.locals.actor,
        },
        'request',
      );
    });
    next();
  };
}
