import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';

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
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S{1,200})$/i.exec(header) : null;
    if (match?.[1]) request.user = { id: match[1] };
    return true;
  }
}
