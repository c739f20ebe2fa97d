import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/**
 * A request the fast lane (api/fast-lane.ts) began and gave to the express app: the id and start
 * time it already has, who sent it, and, when the lane failed it after reading the body, why —
 * the app then answers that error as it answers its own.
 */
export interface HandedOver {
  requestId: string;
  started: number;
  actor: string;
  /** The route's pattern, for the metrics. */
  route: string;
  error?: unknown;
}

const HANDED = Symbol('handed over by the fast lane');

type Marked = IncomingMessage & { [HANDED]?: HandedOver };

export function markHandedOver(req: IncomingMessage, h: HandedOver): void {
  (req as Marked)[HANDED] = h;
}

export function handedOver(req: IncomingMessage): HandedOver | undefined {
  return (req as Marked)[HANDED];
}

/** First after the request context: a request the lane failed goes straight to the error handler. */
export function laneErrors(req: Request, _res: Response, next: NextFunction): void {
  const h = handedOver(req);
  if (h && 'error' in h) return next(h.error);
  next();
}
