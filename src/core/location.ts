/**
 * A store's address as log lines and health reports show it: scheme, user, host, port and path,
 * with the password masked and the query string (which may carry credentials too) left out.
 */
export function withoutPassword(url: URL): string {
  const auth = url.password ? `${url.username}:***@` : url.username ? `${url.username}@` : '';
  return `${url.protocol}//${auth}${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}
