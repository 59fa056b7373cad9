import { PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { REPLAYED_HEADER } from '../core/idempotency/engine.js';
import type { IdempotencyPolicy } from '../core/idempotency/options.js';
import { MAX_KEY_LENGTH } from '../core/keys.js';
import { RATE_LIMIT_HEADER, RATE_LIMIT_POLICY_HEADER } from '../core/ratelimit/headers.js';
import type { ThrottlePolicy } from '../core/ratelimit/options.js';

/**
 * What Tollgate adds to one operation of an OpenAPI 3 document, from the route's policies: the key
 * header, the problem responses and the headers. Plain data in, plain data out, for both adapters,
 * so the rules of what each policy answers live here and nowhere else.
 */

/** The part of an OpenAPI 3 document Tollgate writes to (Swagger's `OpenAPIObject` is one). */
export interface OpenApiDocument {
  components?: {
    schemas?: Record<string, unknown>;
    headers?: Record<string, unknown>;
  };
}

/** The part of an OpenAPI 3 operation Tollgate writes to. */
export interface OpenApiOperation {
  parameters?: unknown[];
  responses?: Record<string, unknown>;
}

interface ReferenceObject {
  $ref: string;
}

interface HeaderObject {
  description: string;
  schema: Record<string, unknown>;
}

interface ParameterObject {
  name: string;
  in: 'header';
  required: boolean;
  description: string;
  schema: Record<string, unknown>;
}

interface ResponseObject {
  description: string;
  content?: Record<string, { schema?: unknown }>;
  headers?: Record<string, unknown>;
}

/** The schema component every Tollgate problem response points to. */
export const PROBLEM_SCHEMA = 'ProblemDetails';

const RETRY_AFTER = 'Retry-After';

const ref = (kind: 'schemas' | 'headers', name: string): ReferenceObject => ({
  $ref: `#/components/${kind}/${name}`,
});

/** The components Tollgate's operations refer to; added once per document. */
export function addComponents(document: OpenApiDocument): void {
  const components = (document.components ??= {});
  const schemas = (components.schemas ??= {});
  // A schema of the same name the application defined stays: it describes its own problems.
  schemas[PROBLEM_SCHEMA] ??= {
    type: 'object',
    description: 'An error as RFC 9457 problem details; `type` is stable, branch on it.',
    required: ['type', 'title', 'status', 'detail'],
    properties: {
      type: {
        type: 'string',
        format: 'uri',
        example: 'https://unpkg.com/tollgate/docs/problems/request-in-progress.md',
      },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
    },
    additionalProperties: true,
  };
  const headers = (components.headers ??= {});
  const add = (name: string, header: HeaderObject): void => {
    headers[name] ??= header;
  };
  add(RETRY_AFTER, {
    description: 'Seconds to wait before retrying the same request.',
    schema: { type: 'integer', minimum: 1 },
  });
  add(RATE_LIMIT_HEADER, {
    description:
      'What is left of each limit and when it resets (IETF RateLimit header fields): `"burst";r=2;t=1`.',
    schema: { type: 'string' },
  });
  add(RATE_LIMIT_POLICY_HEADER, {
    description: 'The limits of this route: `"burst";q=3;w=1, "sustained";q=20;w=60`.',
    schema: { type: 'string' },
  });
  add(REPLAYED_HEADER, {
    description:
      'Present on a stored response replayed for a retry of the same request; the handler did not run again.',
    schema: { type: 'string', enum: ['true'] },
  });
}

/** One Tollgate answer a route may give: the status, why, and the headers it carries. */
interface Answer {
  status: string;
  reason: string;
  headers: readonly string[];
}

/** Documents one operation protected by `idempotency` and/or `throttle` (either may be null). */
export function documentOperation(
  operation: OpenApiOperation,
  idempotency: IdempotencyPolicy | null,
  throttle: ThrottlePolicy | null,
): void {
  const answers: Answer[] = [];
  const successHeaders: string[] = [];
  if (idempotency) {
    const header = keyHeader(idempotency);
    if (header) addParameter(operation, header);
    answers.push(...idempotencyAnswers(idempotency));
    // Key and fingerprint results are replayed; a lock only refuses.
    if (idempotency.strategy !== 'lock') successHeaders.push(REPLAYED_HEADER);
  }
  if (throttle) {
    answers.push(...throttleAnswers(throttle));
    if (throttle.headers === 'always') {
      successHeaders.push(RATE_LIMIT_HEADER, RATE_LIMIT_POLICY_HEADER);
    }
  }
  const responses = (operation.responses ??= {});
  for (const [status, merged] of mergeByStatus(answers)) {
    addProblemResponse(responses, status, merged.reasons.join(' '), merged.headers);
  }
  for (const [status, response] of Object.entries(responses)) {
    if (!/^2\d\d$/.test(status) || isReference(response)) continue;
    addHeaders(response as ResponseObject, successHeaders);
  }
}

/** The key header a route reads, if it reads one: required as the route says. */
function keyHeader(policy: IdempotencyPolicy): ParameterObject | undefined {
  if (policy.strategy === 'fingerprint') return undefined;
  if (policy.strategy === 'lock' && policy.lockKey === 'fingerprint') return undefined;
  const required = policy.strategy === 'key' ? policy.required : policy.lockKey === 'header';
  const description =
    policy.strategy === 'key'
      ? 'A unique value per operation (a UUID). A retry with the same key and the same request gets the first response again; the operation runs once.' +
        (required ? '' : ' Without it, the request runs unprotected.')
      : 'Identifies the request for the duplicate lock' +
        (required ? '.' : '; without it, the request body identifies it.');
  return {
    name: policy.headerName,
    in: 'header',
    required,
    description,
    schema: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH },
  };
}

function idempotencyAnswers(policy: IdempotencyPolicy): Answer[] {
  const answers: Answer[] = [];
  const readsKey = keyHeader(policy) !== undefined;
  answers.push({
    status: '400',
    reason: readsKey
      ? `The ${policy.headerName} header is missing or malformed, or the request body cannot be read.`
      : 'The request body cannot be read.',
    headers: [],
  });
  answers.push({
    status: '409',
    reason:
      policy.strategy === 'lock'
        ? 'The same request was already accepted moments ago: this duplicate was refused until Retry-After.'
        : 'The same request is still running (retry after Retry-After), or its response could not be stored for replay.',
    headers: [RETRY_AFTER],
  });
  if (policy.strategy === 'key') {
    answers.push({
      status: '422',
      reason: `The ${policy.headerName} was already used with a different request.`,
      headers: [],
    });
  }
  if (policy.onStoreUnavailable === 'reject') {
    answers.push({
      status: '503',
      reason:
        'Duplicate protection is temporarily unavailable, so the request was not run; retry after Retry-After.',
      headers: [RETRY_AFTER],
    });
  }
  return answers;
}

function throttleAnswers(policy: ThrottlePolicy): Answer[] {
  const rateLimitHeaders =
    policy.headers === 'never' ? [] : [RATE_LIMIT_HEADER, RATE_LIMIT_POLICY_HEADER];
  const answers: Answer[] = [
    {
      status: '429',
      reason: 'Too many requests: a rate limit of this route is used up; retry after Retry-After.',
      headers: [RETRY_AFTER, ...rateLimitHeaders],
    },
  ];
  if (policy.limits.some((limit) => limit.onStoreUnavailable === 'reject')) {
    answers.push({
      status: '503',
      reason:
        'Rate limiting is temporarily unavailable, so the request was not run; retry after Retry-After.',
      headers: [RETRY_AFTER],
    });
  }
  return answers;
}

function mergeByStatus(
  answers: readonly Answer[],
): Map<string, { reasons: string[]; headers: string[] }> {
  const byStatus = new Map<string, { reasons: string[]; headers: string[] }>();
  for (const answer of [...answers].sort((a, b) => a.status.localeCompare(b.status))) {
    const merged = byStatus.get(answer.status) ?? { reasons: [], headers: [] };
    merged.reasons.push(answer.reason);
    for (const header of answer.headers) {
      if (!merged.headers.includes(header)) merged.headers.push(header);
    }
    byStatus.set(answer.status, merged);
  }
  return byStatus;
}

/**
 * Adds a problem+json response, or completes one the application documented itself: its
 * description and content stay, the problem body and the headers are added beside them.
 */
function addProblemResponse(
  responses: Record<string, unknown>,
  status: string,
  description: string,
  headers: readonly string[],
): void {
  const existing = responses[status];
  if (existing !== undefined && isReference(existing)) return;
  const response = (existing as ResponseObject | undefined) ?? { description };
  const content = (response.content ??= {});
  content[PROBLEM_CONTENT_TYPE] ??= { schema: ref('schemas', PROBLEM_SCHEMA) };
  addHeaders(response, headers);
  responses[status] = response;
}

function addHeaders(response: ResponseObject, names: readonly string[]): void {
  if (names.length === 0) return;
  const headers = (response.headers ??= {});
  const present = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  for (const name of names) {
    if (!present.has(name.toLowerCase())) headers[name] = ref('headers', name);
  }
}

/** The key header, unless the operation documents a header of that name already. */
function addParameter(operation: OpenApiOperation, parameter: ParameterObject): void {
  const parameters = (operation.parameters ??= []);
  const name = parameter.name.toLowerCase();
  const present = parameters.some((existing) => {
    const { in: where, name: existingName } = existing as { in?: unknown; name?: unknown };
    return (
      where === 'header' && typeof existingName === 'string' && existingName.toLowerCase() === name
    );
  });
  if (!present) parameters.push(parameter);
}

function isReference(value: unknown): value is ReferenceObject {
  return typeof value !== 'object' || value === null || '$ref' in value;
}
