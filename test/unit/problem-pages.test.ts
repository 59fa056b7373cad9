import { existsSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  CONFIG_CODES,
  DOCS_BASE,
  errorPage,
  PROBLEM_CODES,
  PROBLEM_SLUGS,
  problemType,
  TollgateConfigError,
} from '../../src/core/errors.js';
import { inProgress } from '../../src/core/idempotency/problems.js';
import { rateLimited } from '../../src/core/ratelimit/problems.js';

/** The page behind a documentation URI, in this repository (the package ships docs/ as it is). */
const pageOf = (uri: string): string => uri.replace(DOCS_BASE, 'docs/');

describe('every problem and error leads to its page', () => {
  it.each(PROBLEM_SLUGS)('problem type %s has a page', (slug) => {
    const page = pageOf(problemType(slug));
    expect(existsSync(page), page).toBe(true);
    expect(readFileSync(page, 'utf8')).toMatch(/^# /);
  });

  it.each([...PROBLEM_CODES, ...CONFIG_CODES])('error code %s has a page', (code) => {
    const page = pageOf(errorPage(code));
    expect(existsSync(page), page).toBe(true);
    expect(readFileSync(page, 'utf8')).toContain(code);
  });

  it('puts the page of its code at the end of a configuration error', () => {
    const error = new TollgateConfigError('TOLLGATE_INVALID_LIMIT', 'limit is -1');
    expect(error.message).toBe(
      `limit is -1 [TOLLGATE_INVALID_LIMIT: ${DOCS_BASE}errors/TOLLGATE_INVALID_LIMIT.md]`,
    );
  });
});

describe('what the problems say', () => {
  it('uses the singular for one second', () => {
    expect(rateLimited(['burst'], 1_000, {}).message).toMatch(/Retry after 1 second\.$/);
    expect(rateLimited(['burst'], 2_000, {}).message).toMatch(/Retry after 2 seconds\.$/);
  });

  it('tells a duplicate to come back soon, not after the whole remaining lease', () => {
    expect(inProgress(29_000).headers['Retry-After']).toBe('1');
    expect(inProgress(300).headers['Retry-After']).toBe('1');
  });
});
