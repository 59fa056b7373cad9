import { TollgateHttpError } from '../errors.js';
/** The rejections of the idempotency engine, one function per row of the contract's table. */
export declare const keyMissing: (headerName: string) => TollgateHttpError;
export declare const keyReused: (headerName: string) => TollgateHttpError;
export declare const inProgress: (retryAfterMs: number) => TollgateHttpError;
export declare const duplicateLocked: (retryAfterMs: number) => TollgateHttpError;
export declare const notReplayable: (reason: "too-large" | "streamed") => TollgateHttpError;
export declare const storeUnavailable: () => TollgateHttpError;
export declare const bodyNotReadable: (contentType: string | undefined) => TollgateHttpError;
//# sourceMappingURL=problems.d.ts.map