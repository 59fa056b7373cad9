import { Controller, Get, Query } from '@nestjs/common';
import { Throttle } from 'tollgate/nest';
import { quote, ROUTE_LIMITS, search } from './shared/limits.js';

@Controller()
export class QuotesController {
  /** 5 requests per 10 s per client; the sixth gets a 429 with Retry-After and RateLimit headers. */
  @Get('quotes')
  @Throttle(ROUTE_LIMITS.quotes)
  quote(): { price: number } {
    return quote();
  }

  /** A burst limit and a sustained limit at once: `RateLimit` lists both. */
  @Get('search')
  @Throttle(ROUTE_LIMITS.search)
  search(@Query('q') query: unknown): { query: string; results: string[] } {
    return search(query);
  }
}
