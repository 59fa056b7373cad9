/**
 * Runs `cleanup` when this test process ends: on 'exit', and on the signals that run no 'exit'
 * handler by default (Vitest stops its fork workers with SIGTERM, Ctrl-C sends SIGINT). After
 * cleaning up, a signal is raised again so the process still dies of it, unless someone else also
 * listens and so has taken over the decision. SIGKILL runs nothing: helpers that need it covered
 * start a watchdog of their own.
 */
export function onTestProcessExit(cleanup: () => void): void {
  process.on('exit', cleanup);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanup();
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
