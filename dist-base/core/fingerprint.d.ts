/** What a request fingerprint is computed over. */
export interface FingerprintInput {
    method: string;
    /** The route template (`/orders/:id`), not the concrete path, so ids in the path do not split keys. */
    route: string;
    /** A parsed JSON body (hashed in canonical form), raw bytes or text (hashed as bytes), or nothing. */
    body: unknown;
    /** Header or query values the route names as part of the request's identity. */
    extra?: ReadonlyArray<readonly [string, string | undefined]>;
}
/**
 * Stands for a request body the app never read (no body parser took it, and the raw bytes are not
 * kept): it cannot be fingerprinted, and two such requests must never be taken for duplicates.
 */
export declare const UNREADABLE_BODY: unique symbol;
/** Deeper than this, a body is treated as hostile rather than walked (and the request gets a 400). */
export declare const MAX_BODY_DEPTH = 64;
/**
 * SHA-256 (base64url) over a canonical form of the request: method, route template, the canonical
 * JSON body (object keys sorted at every depth, so key order never matters) and any named extras.
 */
export declare function fingerprintRequest(input: FingerprintInput): string;
/**
 * JSON with object keys sorted at every depth. Two bodies that differ only in key order have the
 * same canonical form. Values JSON cannot carry (functions, undefined) are dropped as JSON.stringify
 * drops them, and `toJSON` is honoured, so what is hashed is what JSON would send.
 */
export declare function canonicalJson(value: unknown): string;
/**
 * An object's own keys in the order `Array.prototype.sort` gives them (UTF-16 code units).
 * Request bodies and path parameters have few keys, and `sort()` sets up a work area on every
 * call that cost more than the rest of the fingerprint; an insertion sort of a few keys does not.
 */
export declare function sortedKeys(record: object): string[];
//# sourceMappingURL=fingerprint.d.ts.map