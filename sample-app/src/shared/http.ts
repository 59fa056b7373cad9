import { STATUS_CODES } from 'node:http';

import type { ProblemDetails } from 'tollgate';

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

/**
 * The sample's own problem types: its own, not Tollgate's, so a client can tell "the payment was
 * malformed" from anything Tollgate decided. `example.com` stands for the app's own domain.
 */
export const SAMPLE_PROBLEM_BASE = 'https://example.com/problems/';

/**
 * The sample's own errors as problem+json (RFC 9457), shaped like Tollgate's rejections. A 400 is
 * the sample's own `invalid-request`; any other status says nothing beyond itself (`about:blank`,
 * as RFC 9457 says).
 */
export function sampleProblem(status: number, detail: string): ProblemDetails {
  return {
    type: status === 400 ? `${SAMPLE_PROBLEM_BASE}invalid-request` : 'about:blank',
    title: STATUS_CODES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request'),
    status,
    detail,
  };
}
