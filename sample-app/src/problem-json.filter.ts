import {
  BadRequestException,
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE, TollgateHttpError } from 'tollgate';
import { TollgateHttpException } from 'tollgate/nest';
import { SERVER_ERROR_DETAIL, sampleProblem } from './shared/http.js';
import { InvalidRequestError } from './shared/orders.js';

/** Renders every error of the sample as problem+json (RFC 9457), like Tollgate's own rejections. */
@Catch()
export class ProblemJsonFilter implements ExceptionFilter {
  private readonly logger = new Logger('SampleApp');
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(thrown: unknown, host: ArgumentsHost): void {
    // The shared code's refusal of a request body, as Nest's own 400.
    const exception =
      thrown instanceof InvalidRequestError ? new BadRequestException(thrown.message) : thrown;
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse<unknown>();
    // Tollgate's own rejections (429, 503) are problem+json already, with their headers; so is a
    // `TollgateHttpError` a handler throws (`lease.throwIfLost()`: 409 lease-lost).
    const tollgate = exception instanceof TollgateHttpException ? exception.error : exception;
    if (tollgate instanceof TollgateHttpError) {
      for (const [name, value] of Object.entries(tollgate.headers))
        adapter.setHeader(response, name, value);
      adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
      adapter.reply(response, tollgate.toProblem(), tollgate.status);
      return;
    }
    const status =
      exception instanceof HttpException ? exception.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
    if (status >= 500)
      this.logger.error(exception instanceof Error ? exception.message : String(exception));
    const body = exception instanceof HttpException ? exception.getResponse() : undefined;
    const detail =
      typeof body === 'object' && body !== null && 'message' in body
        ? [(body as { message: unknown }).message].flat().join('; ')
        : status >= 500
          ? SERVER_ERROR_DETAIL
          : String(body ?? 'Error');
    adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
    adapter.reply(response, sampleProblem(status, detail), status);
  }
}
