import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { demoPrincipal } from './shared/http.js';

/**
 * A demo guard, not real authentication: `Authorization: Bearer <name>` makes `<name>` the user,
 * so the sample shows that keys are scoped per user. Requests without it are anonymous.
 */
@Injectable()
export class DemoAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, unknown>; user?: { id: string } }>();
    const user = demoPrincipal(request.headers.authorization);
    if (user) request.user = user;
    return true;
  }
}
