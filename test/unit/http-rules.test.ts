import type { ServerResponse } from 'node:http';

import { describe, expect, it, vi } from 'vitest';

import { PROBLEM_CONTENT_TYPE, TollgateHttpError } from '../../src/core/errors.js';
import { settleClosedResponse } from '../../src/http/disconnect.js';
import { problemResponse } from '../../src/core/problem-response.js';

describe('problemResponse', () => {
  const error = new TollgateHttpError({
    code: 'TOLLGATE_RATE_LIMITED',
    status: 429,
    slug: 'rate-limited',
    title: 'Too many requests',
    detail: 'Try again in 3 seconds.',
    headers: { 'Retry-After': '3', 'content-type': 'text/plain' },
    extensions: { limit: 'burst' },
  });

  it('answers with the status, the error headers, then problem+json, and the serialized problem', () => {
    const answer = problemResponse(error);
    expect(answer.status).toBe(429);
    expect(answer.headers).toEqual([
      ['Retry-After', '3'],
      ['content-type', 'text/plain'],
      ['Content-Type', PROBLEM_CONTENT_TYPE],
    ]);
    expect(answer.problem).toEqual(error.toProblem());
    expect(answer.body.equals(Buffer.from(JSON.stringify(error.toProblem())))).toBe(true);
  });

  it('serializes the extensions first, then the standard members, which win in place', () => {
    const shadowing = new TollgateHttpError({
      code: 'TOLLGATE_RATE_LIMITED',
      status: 429,
      slug: 'rate-limited',
      title: 'Too many requests',
      detail: 'Try again in 3 seconds.',
      extensions: { 'violated-policies': ['burst'], status: 200, limits: ['burst'] },
    });
    expect(JSON.stringify(shadowing.toProblem())).toBe(
      '{"violated-policies":["burst"],"status":429,"limits":["burst"],' +
        `"type":"${shadowing.type}","title":"Too many requests","detail":"Try again in 3 seconds."}`,
    );
  });
});

describe('settleClosedResponse', () => {
  const execution = () => ({ finish: vi.fn(async () => {}), abandon: vi.fn(async () => {}) });
  const closed = (headersSent: boolean) =>
    ({ headersSent, statusCode: 200 }) as unknown as ServerResponse;

  it('leaves a response that was ended to its capture', () => {
    const run = execution();
    expect(settleClosedResponse(run, closed(true), { ended: true }, true)).toBe('captured');
    expect(run.finish).not.toHaveBeenCalled();
    expect(run.abandon).not.toHaveBeenCalled();
  });

  it.each([true, false])(
    'records a response cut off mid-body as streamed (answer given up: %s)',
    (givenUp) => {
      const run = execution();
      expect(settleClosedResponse(run, closed(true), { ended: false }, givenUp)).toBe('streamed');
      expect(run.finish).toHaveBeenCalledWith({ status: 200, unstorable: 'streamed' });
      expect(run.abandon).not.toHaveBeenCalled();
    },
  );

  it('releases the key of a response closed before any byte when no answer will come', () => {
    const run = execution();
    expect(settleClosedResponse(run, closed(false), { ended: false }, true)).toBe('abandoned');
    expect(run.abandon).toHaveBeenCalledOnce();
    expect(run.finish).not.toHaveBeenCalled();
  });

  it('keeps the key while the handler may still answer', () => {
    const run = execution();
    expect(settleClosedResponse(run, closed(false), { ended: false }, false)).toBe('kept');
    expect(run.abandon).not.toHaveBeenCalled();
    expect(run.finish).not.toHaveBeenCalled();
  });
});
