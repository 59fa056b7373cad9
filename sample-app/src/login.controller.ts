import { Body, Controller, HttpCode, Post, Req, Res, UnauthorizedException } from '@nestjs/common';
import { Throttle, ThrottleAdmin, type NestRateLimiter } from 'tollgate/nest';
import { checkLogin, LOGIN_FAILED, LOGIN_LIMITS, loginUserName } from './shared/login.js';

@Controller()
export class LoginController {
  /** The per-user limit has its own tracker (the user name), so the handler checks it itself. */
  private readonly perUser: NestRateLimiter;

  constructor(throttle: ThrottleAdmin) {
    this.perUser = throttle.limiter({ limits: LOGIN_LIMITS.perUser, tracker: loginUserName });
  }

  /**
   * The brute-force recipe: the guard counts the address (successes given back), the handler the
   * user name before checking the password; a success resets the user's count.
   */
  @Post('login')
  @HttpCode(200)
  @Throttle(LOGIN_LIMITS.perAddress, { skipSuccessfulRequests: true, headers: 'when-limited' })
  async login(
    @Req() req: object,
    @Res({ passthrough: true }) res: unknown,
    @Body() body: unknown,
  ): Promise<{ user: string }> {
    await this.perUser.consume(req, res);
    const login = checkLogin(body);
    if (!login) throw new UnauthorizedException(LOGIN_FAILED);
    await this.perUser.reset(req);
    return login;
  }
}
