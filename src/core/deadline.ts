import { StoreUnavailableError, toError } from './errors.js';

/**
 * Runs a store call under a hard deadline. A store that fails or stays silent becomes a
 * `StoreUnavailableError`, so the route's policy decides: no request ever hangs on the store.
 */
export async function withDeadline<T>(
  what: string,
  ms: number,
  call: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnavailableError(`the store did not answer ${what} within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`the store failed ${what}: ${toError(error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}
