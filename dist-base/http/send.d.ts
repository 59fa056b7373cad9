import type { ServerResponse } from 'node:http';
import { type TollgateHttpError } from '../core/errors.js';
import type { StoredResponse } from '../stores/store.js';
/** Sends a stored response exactly: its status, its allow-listed headers, its body bytes. */
export declare function sendReplay(res: ServerResponse, stored: StoredResponse): void;
/** Sends a rejection as problem+json (RFC 9457), with the headers it carries (e.g. `Retry-After`). */
export declare function sendProblem(res: ServerResponse, error: TollgateHttpError): void;
//# sourceMappingURL=send.d.ts.map