import { HttpException } from '@nestjs/common';
import type { TollgateHttpError } from '../core/errors.js';
/**
 * A Tollgate rejection on its way through Nest's exception layer. Its response body is the
 * problem+json document; the guard has already set `Content-Type: application/problem+json` and
 * the error's headers (`Retry-After`, `RateLimit`, ...) on the response, which Nest's default
 * filter keeps. A custom catch-all filter can send `getResponse()` and `headers` as they are.
 */
export declare class TollgateHttpException extends HttpException {
    readonly error: TollgateHttpError;
    constructor(error: TollgateHttpError);
    /** The headers that belong with this response, e.g. `Retry-After`. */
    get headers(): Readonly<Record<string, string>>;
}
//# sourceMappingURL=tollgate-http.exception.d.ts.map