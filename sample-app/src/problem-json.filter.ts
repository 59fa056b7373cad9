import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE } from '../../src/index.js';
import { TollgateHttpException } from '../../src/nest.js';
import { SERVER_ERROR_DETAIL, sampleProblem } from './shared/http.js';

/** Renders every error of the sample as problem+json (RFC 9457), like Tollgate's own rejections. */
@Catch()
export class ProblemJsonFilter implements ExceptionFilter {
  private readonly logger = new Logger('SampleApp');
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse<unknown>();
    // Tollgate's own rejections (429, 503) are problem+json already, with their headers.
    if (exception instanceof TollgateHttpException) {
      for (const [name, value] of Object.entries(exception.headers))
        adapter.setHeader(response, name, value);
      adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
      adapter.reply(response, exception.getResponse(), exception.getStatus());
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
