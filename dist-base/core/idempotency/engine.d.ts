import { TollgateHttpError } from '../errors.js';
import type { IdempotencyStore, StoredResponse, UnstorableReason } from '../../stores/store.js';
import type { IdempotencyPolicy } from './options.js';
import { type Renewable } from './renewals.js';
/** A request as the adapters describe it to the engine: nothing framework-specific. */
export interface IdempotencyRequest {
    method: string;
    /** The route template (`/orders/:id`), or another stable name of the handler. */
    route: string;
    /** Who is asking: principal and tenant. Keys never cross scopes, so no one replays another's result. */
    scope: string;
    /** A request header by lower-case name. */
    header(name: string): string | readonly string[] | undefined;
    /** A query field by name. */
    query(name: string): string | undefined;
    /** The parsed body (JSON), raw bytes or text, or undefined. */
    body: unknown;
    /**
     * The route's path parameters (`{ id: '1' }` for `/orders/:id`): part of the request's identity,
     * so identical bodies sent to `/devices/1/reports` and `/devices/2/reports` are two requests.
     */
    params?: Readonly<Record<string, unknown>> | undefined;
}
/** How the handler's response ended, as the adapter captured it. */
export type CapturedResponse = {
    status: number;
    /** Response headers as sent; the engine keeps only the allow-listed ones. */
    headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
    body: Uint8Array;
} | {
    status: number;
    unstorable: UnstorableReason;
};
export type IdempotencyDecision = 
/** Run the handler, then report how it ended through `execution`. */
{
    action: 'proceed';
    execution: Execution;
}
/** Do not run the handler: send this stored response, marked `Idempotent-Replayed: true`. */
 | {
    action: 'replay';
    response: StoredResponse;
}
/** Do not run the handler: answer with this problem. */
 | {
    action: 'reject';
    error: TollgateHttpError;
}
/** Run the handler without protection: no key was sent where none is required, or the store is down and the route allows it. */
 | {
    action: 'bypass';
    reason: 'no-key' | 'store-unavailable';
};
/** What the engine reports besides its decisions, for logs and metrics. */
export type IdempotencyEvent = {
    type: 'store-unavailable';
    policy: 'reject' | 'allow';
    error: Error;
} | {
    type: 'lease-lost';
    key: string;
} | {
    type: 'finish-failed';
    key: string;
    error: Error;
};
export interface IdempotencyEngineOptions {
    /** Prefix of every storage key. Default `tollgate`. */
    namespace?: string;
    /** Called for events worth logging. Default: warnings on the console. */
    onEvent?: (event: IdempotencyEvent) => void;
}
/** The header a replayed response carries, and the first response never does. */
export declare const REPLAYED_HEADER = "Idempotent-Replayed";
/**
 * Decides what each request does: run once, replay, or be refused. It holds no framework
 * knowledge: the adapters describe the request, run the handler and capture the response.
 */
export declare class IdempotencyEngine {
    private readonly store;
    private readonly namespace;
    private readonly onEvent;
    constructor(store: IdempotencyStore, options?: IdempotencyEngineOptions);
    /** Decides what this request does. Never throws: every failure is a decision. */
    begin(request: IdempotencyRequest, policy: IdempotencyPolicy): Promise<IdempotencyDecision>;
    private decide;
    /**
     * `begin` under the deadline. A store that answers late may still take the lease after the
     * request gave up (a silent Redis runs the queued command once it resumes). A release for the
     * same owner, sent right behind it on the same connection, then gives the key back at once
     * rather than leaving it blocked for the whole lease; it only ever touches this owner's lease.
     */
    private beginOrGiveBack;
    private missingKey;
    private fingerprint;
}
/**
 * One run of a handler under an in-progress lease. The lease is renewed while the handler runs,
 * so a long handler keeps its key, and a crashed process blocks retries only until the lease ends.
 */
export declare class Execution implements Renewable {
    private readonly store;
    readonly key: string;
    private readonly owner;
    private readonly retentionMs;
    private readonly policy;
    private readonly onEvent;
    private renewing;
    private finished;
    constructor(store: IdempotencyStore | undefined, key: string, owner: string, retentionMs: number, policy: IdempotencyPolicy | undefined, onEvent: (event: IdempotencyEvent) => void);
    /** An execution with nothing to record afterwards (the `lock` strategy). */
    static untracked(): Execution;
    /** The largest body worth capturing; anything larger is passed through and not stored. */
    get maxResponseBytes(): number;
    /** Whether the adapter needs to capture the response at all. */
    get tracked(): boolean;
    /**
     * Records how the handler ended: the response is stored for replay, or the key released so a
     * retry runs again, as the outcome policy says. Never rejects: the response is already sent.
     */
    finish(response: CapturedResponse): Promise<void>;
    /** The handler failed with no response at all: release the key so a retry runs again. */
    abandon(): Promise<void>;
    private begunFinishing;
    private stopRenewing;
    /** Called by the renewal schedule, at a third of the lease. */
    renew(): void;
    private renewLease;
}
/** Keeps the allow-listed headers, in the order sent, with multiple values joined as HTTP allows. */
export declare function replayableHeaders(headers: Readonly<Record<string, string | number | readonly string[] | undefined>>, allowed: ReadonlySet<string>): Array<readonly [string, string]>;
/** One line for an event, for whichever logger the adapter uses. */
export declare function describeIdempotencyEvent(event: IdempotencyEvent): string;
//# sourceMappingURL=engine.d.ts.map