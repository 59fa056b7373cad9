import { HttpException } from '@nestjs/common';
/**
 * A Tollgate rejection on its way through Nest's exception layer. Its response body is the
 * problem+json document; the guard has already set `Content-Type: application/problem+json` and
 * the error's headers (`Retry-After`, `RateLimit`, ...) on the response, which Nest's default
 * filter keeps. A custom catch-all filter can send `getResponse()` and `headers` as they are.
 */
export class TollgateHttpException extends HttpException {
    error;
    constructor(error) {
        super(error.toProblem(), error.status, { cause: error, description: error.title });
        this.error = error;
    }
    /** The headers that belong with this response, e.g. `Retry-After`. */
    get headers() {
        return this.error.headers;
    }
}
//# sourceMappingURL=tollgate-http.exception.js.map