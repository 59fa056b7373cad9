/** The longest idempotency key a client may send (draft-ietf-httpapi-idempotency-key-header). */
export declare const MAX_KEY_LENGTH = 255;
/**
 * Reads the client's idempotency key from a header value. Accepts a raw token (`abc-123`) and a
 * structured-field string (`"abc-123"`), which name the same key. Returns `undefined` when the
 * header is absent; throws a 400 for anything malformed.
 */
export declare function parseIdempotencyKey(header: string | readonly string[] | undefined, headerName: string): string | undefined;
/** Checks the namespace once at start-up: it is the only readable part of a storage key. */
export declare function validateNamespace(namespace: string): string;
/**
 * A storage key: `<namespace>:<kind>:{<hash>}`. The hash covers every part, each length-prefixed so
 * no two different lists of parts can collide, and no raw client input ever reaches Redis: a client
 * cannot choose a Cluster slot, inject separators or grow keys. The hash is the `{hash tag}`, so
 * keys spread over a Cluster while every key of one decision stays in one slot.
 */
export declare function storageKey(namespace: string, kind: string, parts: readonly string[]): string;
//# sourceMappingURL=keys.d.ts.map