import { Router } from 'express';
import { Refused } from '../../app/errors';
import type { RegisteredEvent } from './event-types';
import { runCommand, withEtag, type Render } from '../command';
import type { AppContext } from '../context';
import { pathParam } from '../request-meta';
import { jsonBody, jsonFromText, jsonTextBody, requireJson } from '../bodies';
import { plainValueBody } from '../plain-json';
import { assignments, regRef } from '../reg-refs';
import { onlyQuery, parseBody, writeRegisterBody, writeRegistersBody } from '../schemas';
import { namedValues } from '../views';
import { parseValue } from '../../domain/values';
import type { VcpuCommand } from '../../domain/vcpu';
import { HttpProblem } from '../problem';
import type { components } from '../generated/openapi';

/** The write summary: version and what was written (names included). */
export const written: Render = ({ streamId: id, events, state, version }) => {
  const e = events[0] as RegisteredEvent<'RegistersWritten'>;
  const body = {
    id,
    version,
    written: namedValues(e.written, state),
  } satisfies Omit<components['schemas']['WriteSummary'], 'warnings'>; // runCommand adds the warnings
  return { status: 200, body, headers: withEtag(version) };
};

/** The write a PUT's body (`{"value": "…"}`, checked by the schema) asks for. */
export function putCommand(body: unknown, reg: string): VcpuCommand {
  const { value } = parseBody(writeRegisterBody, body); // the body's errors before the path's
  const ref = regRef(reg);
  return { type: 'WriteRegisters', values: [[ref, parseValue(value)]] };
}

/** The register is the resource of a PUT: an unknown one is a 404, not a refused batch. */
export function asRegisterProblem(e: unknown): unknown {
  return e instanceof Refused && e.kind === 'unknown-register'
    ? new HttpProblem(404, 'unknown-register', 'Unknown register', e.message)
    : e;
}

export function registerRoutes(ctx: AppContext): Router {
  const r = Router();

  r.put('/v1/cpus/:id/registers/:reg', requireJson, jsonTextBody, async (req, res) => {
    onlyQuery(req.query, []);
    // {"value": "…"} is read from the text (plain-json.ts); anything else is parsed as JSON
    const text = req.body as string | undefined;
    const value = text === undefined ? undefined : plainValueBody(text);
    req.body = value === undefined ? jsonFromText(text) : { value };
    const command = putCommand(req.body, pathParam(req, 'reg'));
    try {
      await runCommand(ctx, req, res, pathParam(req, 'id'), command, written);
    } catch (e) {
      throw asRegisterProblem(e);
    }
  });

  r.patch('/v1/cpus/:id/registers', requireJson, jsonBody, async (req, res) => {
    onlyQuery(req.query, []);
    const body = parseBody(writeRegistersBody, req.body);
    await runCommand(
      ctx,
      req,
      res,
      pathParam(req, 'id'),
      { type: 'WriteRegisters', values: assignments(body.values) },
      written,
    );
  });

  return r;
}
