/**
 * The few test-runner functions the contract suites use, typed structurally so that vitest's and
 * jest's `describe`, `it` and `expect` both fit. Nothing here imports a test runner.
 */

/** The matchers the suites use: ones vitest and jest both have, with the same meaning. */
export interface ContractMatchers {
  toBe(expected: unknown): unknown;
  toEqual(expected: unknown): unknown;
  toMatchObject(expected: Record<string, unknown> | unknown[]): unknown;
  toBeGreaterThan(expected: number | bigint): unknown;
  toBeGreaterThanOrEqual(expected: number | bigint): unknown;
  toBeLessThanOrEqual(expected: number | bigint): unknown;
  toHaveLength(expected: number): unknown;
  toBeUndefined(): unknown;
  toBeDefined(): unknown;
}

/** The runner's test functions: pass `{ describe, it, expect }` from vitest or `@jest/globals`. */
export interface ContractTestApi {
  describe(name: string, body: () => void): unknown;
  /** The third argument is a timeout in ms, as both runners take it. */
  it(name: string, body: () => Promise<void>, timeout?: number): unknown;
  expect(actual: unknown): ContractMatchers;
}

/** How a suite drives one store: the store itself, and how time passes for it. */
export interface ContractSubject<Store> {
  store: Store;
  /**
   * Lets `ms` of the store's time pass: a fake clock advances, a real server is waited for
   * (`(ms) => new Promise((resolve) => setTimeout(resolve, ms))`).
   */
  elapse(ms: number): Promise<void>;
}

/**
 * Called at the start of every test, so it may hand out a store created later (in a `beforeAll`).
 * It must not return a store the suite has already closed; one store may serve every test, since
 * each test uses keys of its own.
 */
export type ContractSetup<Store> = () => ContractSubject<Store>;

/**
 * Per-test timeout handed to `it`: a suite on a real server waits for real time (up to ~4 s in one
 * test), more than jest's 5 s default leaves on a loaded machine.
 */
export const CONTRACT_TEST_TIMEOUT_MS = 30_000;

/** The runner's `it`, with `CONTRACT_TEST_TIMEOUT_MS` for every test of a suite. */
export function patientIt(
  api: ContractTestApi,
): (title: string, body: () => Promise<void>) => unknown {
  return (title, body) => api.it(title, body, CONTRACT_TEST_TIMEOUT_MS);
}
