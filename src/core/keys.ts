import { hash } from 'node:crypto';

import { TollgateConfigError, TollgateHttpError } from './errors.js';

/** The longest idempotency key a client may send (draft-ietf-httpapi-idempotency-key-header). */
export const MAX_KEY_LENGTH = 255;

/** Visible ASCII, 0x21 to 0x7E: no spaces, no control characters, nothing outside ASCII. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Reads the client's idempotency key from a header value. Accepts a raw token (`abc-123`) and a
 * structured-field string (`"abc-123"`), which name the same key. Returns `undefined` when the
 * header is absent; throws a 400 for anything malformed.
 */
export function parseIdempotencyKey(
  header: string | readonly string[] | undefined,
  headerName: string,
): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') {
    if (header.length === 1 && header[0] !== undefined)
      return parseIdempotencyKey(header[0], headerName);
    throw invalidKey(headerName, `send exactly one ${headerName} header`);
  }
  let key = header.trim();
  // Node.js joins the lines of a header sent twice with ", " after trimming each: a line with an
  // empty value leaves a comma at one end (`abc, ` trims to `abc,`), and no space to refuse.
  if (key.startsWith(',') || key.endsWith(',')) {
    throw invalidKey(headerName, `send exactly one ${headerName} header`);
  }
  if (key.startsWith('"')) key = unquoteStructuredString(key, headerName);
  if (key.length === 0) throw invalidKey(headerName, 'the key is empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw invalidKey(
      headerName,
      `the key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`,
    );
  }
  if (!VISIBLE_ASCII.test(key)) {
    throw invalidKey(
      headerName,
      'the key may only contain visible ASCII characters (no spaces, control characters or non-ASCII)',
    );
  }
  return key;
}

/** RFC 8941 sf-string: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE. */
function unquoteStructuredString(value: string, headerName: string): string {
  if (value.length < 2 || !value.endsWith('"')) {
    throw invalidKey(headerName, 'a quoted key must end with a double quote');
  }
  let result = '';
  for (let i = 1; i < value.length - 1; i++) {
    const ch = value[i] as string;
    if (ch === '\\') {
      const next = value[i + 1];
      if ((next !== '"' && next !== '\\') || i + 1 >= value.length - 1) {
        throw invalidKey(headerName, 'a quoted key may only escape " and \\');
      }
      result += next;
      i++;
    } else if (ch === '"') {
      throw invalidKey(headerName, 'a quoted key has an unescaped double quote inside');
    } else {
      result += ch;
    }
  }
  return result;
}

function invalidKey(headerName: string, why: string): TollgateHttpError {
  return new TollgateHttpError({
    code: 'TOLLGATE_KEY_INVALID',
    status: 400,
    slug: 'idempotency-key-invalid',
    title: `Invalid ${headerName} header`,
    detail: `The ${headerName} header is malformed: ${why}. Send 1 to ${MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID.`,
  });
}

const NAMESPACE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks the namespace once at start-up: it is the only readable part of a storage key. */
export function validateNamespace(namespace: string): string {
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_NAMESPACE',
      `namespace "${namespace}" may only use letters, digits, '_', '.' and '-' (1 to 64 characters)`,
    );
  }
  return namespace;
}

/**
 * A storage key: `<namespace>:<kind>:{<hash>}`. The hash covers every part, each length-prefixed so
 * no two different lists of parts can collide, and no raw client input ever reaches Redis: a client
 * cannot choose a Cluster slot, inject separators or grow keys. The hash is the `{hash tag}`, so
 * keys spread over a Cluster while every key of one decision stays in one slot.
 */
export function storageKey(namespace: string, kind: string, parts: readonly string[]): string {
  let encoded = '';
  for (const part of parts) encoded += `${part.length}:${part}`;
  return `${namespace}:${kind}:{${hash('sha256', encoded, 'base64url').slice(0, 32)}}`;
}
