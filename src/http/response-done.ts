import type { ServerResponse } from 'node:http';

/**
 * Calls `done` once the response is over: with its status code when it was sent in full, with
 * `undefined` when the connection closed first (the client went away, or the app destroyed it).
 * Node emits 'close' on every response, after 'finish' when there was one, so one listener tells
 * both apart.
 */
export function whenResponseDone(
  response: ServerResponse,
  done: (statusCode: number | undefined) => void,
): void {
  response.once('close', () => {
    done(response.writableFinished ? response.statusCode : undefined);
  });
}
