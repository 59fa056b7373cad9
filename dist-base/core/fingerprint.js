import { createHash, hash } from 'node:crypto';
import { TollgateHttpError } from './errors.js';
/**
 * Stands for a request body the app never read (no body parser took it, and the raw bytes are not
 * kept): it cannot be fingerprinted, and two such requests must never be taken for duplicates.
 */
export const UNREADABLE_BODY = Symbol.for('tollgate:unreadable-body');
/** Deeper than this, a body is treated as hostile rather than walked (and the request gets a 400). */
export const MAX_BODY_DEPTH = 64;
const SEPARATOR = '\u0000';
/**
 * SHA-256 (base64url) over a canonical form of the request: method, route template, the canonical
 * JSON body (object keys sorted at every depth, so key order never matters) and any named extras.
 */
export function fingerprintRequest(input) {
    // Built as one string and hashed in one call: no Hash object per request on the common path.
    let head = input.method.toUpperCase() + SEPARATOR + input.route + SEPARATOR;
    for (const [name, value] of input.extra ?? []) {
        // Absent and empty must differ, or a route that names a header could be confused by omitting it.
        head += `${name.toLowerCase()}=${value === undefined ? SEPARATOR + 'absent' : JSON.stringify(value)}${SEPARATOR}`;
    }
    const body = input.body;
    if (body instanceof Uint8Array) {
        const bytes = createHash('sha256');
        bytes.update(head + 'bytes:');
        bytes.update(body);
        return bytes.digest('base64url');
    }
    if (body === undefined || body === null)
        return hash('sha256', head + 'empty:', 'base64url');
    // Text is hashed as its UTF-8 bytes, exactly as the same body sent as raw bytes.
    if (typeof body === 'string')
        return hash('sha256', head + 'bytes:' + body, 'base64url');
    return hash('sha256', head + 'json:' + canonicalJson(body), 'base64url');
}
/**
 * JSON with object keys sorted at every depth. Two bodies that differ only in key order have the
 * same canonical form. Values JSON cannot carry (functions, undefined) are dropped as JSON.stringify
 * drops them, and `toJSON` is honoured, so what is hashed is what JSON would send.
 */
export function canonicalJson(value) {
    return canonical(value, 0);
}
/** Built by concatenation: V8 joins the pieces lazily, with no array of parts per request. */
function canonical(value, depth) {
    if (depth > MAX_BODY_DEPTH) {
        throw new TollgateHttpError({
            code: 'TOLLGATE_BODY_TOO_DEEP',
            status: 400,
            slug: 'request-invalid',
            title: 'Request body is nested too deeply',
            detail: `The request body is nested deeper than ${MAX_BODY_DEPTH} levels.`,
        });
    }
    if (value !== null &&
        typeof value === 'object' &&
        typeof value.toJSON === 'function') {
        value = value.toJSON();
    }
    if (value === null || typeof value !== 'object')
        return JSON.stringify(value) ?? 'null';
    if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
            if (i > 0)
                out += ',';
            const item = value[i];
            // JSON.stringify writes undefined and functions inside arrays as null.
            out +=
                item === undefined || typeof item === 'function' || typeof item === 'symbol'
                    ? 'null'
                    : canonical(item, depth + 1);
        }
        return out + ']';
    }
    if (value instanceof Uint8Array)
        return JSON.stringify(Buffer.from(value).toString('base64'));
    const record = value;
    let out = '{';
    let first = true;
    for (const key of sortedKeys(record)) {
        const item = record[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol')
            continue;
        if (!first)
            out += ',';
        first = false;
        out += JSON.stringify(key) + ':' + canonical(item, depth + 1);
    }
    return out + '}';
}
/**
 * An object's own keys in the order `Array.prototype.sort` gives them (UTF-16 code units).
 * Request bodies and path parameters have few keys, and `sort()` sets up a work area on every
 * call that cost more than the rest of the fingerprint; an insertion sort of a few keys does not.
 */
export function sortedKeys(record) {
    const keys = Object.keys(record);
    if (keys.length > 16)
        return keys.sort();
    for (let i = 1; i < keys.length; i++) {
        const key = keys[i];
        let j = i - 1;
        while (j >= 0 && keys[j] > key) {
            keys[j + 1] = keys[j];
            j--;
        }
        keys[j + 1] = key;
    }
    return keys;
}
//# sourceMappingURL=fingerprint.js.map