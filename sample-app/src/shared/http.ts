import { STATUS_CODES } from 'node:http';

import { PROBLEM_TYPE_BASE, type ProblemDetails } from '../../../src/index.js';

/**
 * The demo authentication, not a real one: `Authorization: Bearer <name>` makes `<name>` the user,
 * so the sample shows that keys are scoped per user. Anything else is anonymous.
 */
export function demoPrincipal(authorization: unknown): { id: string } | undefined {
  const match =
    typeof authorization === 'string' ? /^Bearer\s+(\S{1,200})$/i.exec(authorization) : null;
  return match?.[1] ? { id: match[1] } : undefined;
}

/** What a 5xx tells the client: the cause stays in the server's log. */
export const SERVER_ERROR_DETAIL = 'The server failed to handle the request.';

/** The sample's own errors as problem+json (RFC 9457), shaped like Tollgate's rejections. */
export function sampleProblem(status: number, detail: string): ProblemDetails {
  return {
    type: `${PROBLEM_TYPE_BASE}${status >= 500 ? 'server-error' : 'request-invalid'}`,
    title: STATUS_CODES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request'),
    status,
    detail,
  };
}
