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

/** Starts the built sample app as its own process and resolves once it prints its listening line. */
export async function startSampleProcess(
  env: Record<string, string>,
  entry = SAMPLE_ENTRY,
): Promise<SampleProcess> {
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
