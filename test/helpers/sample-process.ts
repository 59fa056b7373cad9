import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

import { findFreePort } from './redis-server.js';

/** The built Nest sample's entry point: what `npm start` runs. */
export const SAMPLE_ENTRY = resolve('sample-app/dist/sample-app/src/main.js');

export interface SampleProcess {
  baseUrl: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Kills the process (SIGKILL by default: a crash) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the process is frozen, as by a long GC pause or a suspended VM. */
  pause(): void;
  /** SIGCONT: undoes pause(). */
  resume(): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((child) => child.kill('SIGKILL')));

/**
 * Starts the built sample app as its own process and resolves once it prints its listening line.
 * A free port can be taken by another test's server between the check and the app's listen: that
 * start is tried again on another port.
 */
export async function startSampleProcess(
  env: Record<string, string>,
  entry = SAMPLE_ENTRY,
): Promise<SampleProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(env, entry);
    } catch (error) {
      if (attempt === 3 || !String(error).includes('EADDRINUSE')) throw error;
    }
  }
}

async function startOnce(env: Record<string, string>, entry: string): Promise<SampleProcess> {
  const port = await findFreePort();
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, ...env, PORT: String(port), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sample did not start in 20 s:\n${output}`)),
      20_000,
    );
    const check = (): void => {
      if (output.includes(`listening on http://127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sample exited with ${String(code)} before listening:\n${output}`));
    });
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => output,
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async kill(signal = 'SIGKILL') {
      // A frozen process would never act on SIGTERM.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      running.delete(child);
    },
  };
}

/** The built sample worker's entry point: what `npm run start:worker` runs. */
export const WORKER_ENTRY = resolve('sample-app/dist/sample-app/src/worker/main.js');

export interface WorkerProcess {
  pid: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /**
   * Resolves with `performance.now()` at the moment the output that first matches `pattern`
   * arrived (at once if it already has), or rejects after `timeoutMs`: for timing takeovers.
   */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<number>;
  /** The exit code once it exits (`null` when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends `signal` (SIGKILL by default: a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the process is frozen, as by a long GC pause or a suspended VM. */
  pause(): void;
  /** SIGCONT: undoes pause(). */
  resume(): void;
}

/**
 * Starts the built sample worker as its own process; it listens on nothing, so this resolves once
 * it prints its first line, or once it has exited (see `exited`).
 */
export async function startWorkerProcess(
  env: Record<string, string>,
  entry = WORKER_ENTRY,
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  /** Where each chunk ended in `output`, and when it arrived. */
  const arrivals: Array<{ end: number; at: number }> = [];
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    arrivals.push({ end: output.length, at: performance.now() });
    watchers.forEach((check) => check());
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child);
    return code as number | null;
  });
  const waitFor = (pattern: string | RegExp, timeoutMs = 20_000): Promise<number> =>
    new Promise<number>((resolveMatch, reject) => {
      const check = (): void => {
        const match =
          typeof pattern === 'string' ? output.indexOf(pattern) : output.search(pattern);
        if (match < 0) return;
        watchers.delete(check);
        clearTimeout(timer);
        const arrival = arrivals.find(({ end }) => end > match);
        resolveMatch(arrival?.at ?? performance.now());
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`worker printed no ${String(pattern)} in ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });
  // Its first line, or all it printed before exiting (a start-up error: see `exited`).
  const firstLine = waitFor(/\n/);
  firstLine.catch(() => undefined);
  await Promise.race([firstLine, once(child, 'close')]);
  return {
    pid: child.pid as number,
    output: () => output,
    waitFor,
    exited,
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async kill(signal = 'SIGKILL') {
      // A frozen process would never act on SIGTERM.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
