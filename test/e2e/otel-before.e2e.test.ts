import { afterAll, beforeAll, describe } from 'vitest';

import {
  capturesUnderTracing,
  closesUnderTracing,
  startTracing,
  type Tracing,
} from './otel-capture.js';

/**
 * Tracing started first, as an APM agent loaded with `--require` does: OpenTelemetry's HTTP
 * instrumentation is in place before any app exists and before Tollgate's first adapter wraps
 * `ServerResponse.prototype`. The apps are imported only then, so nothing of Tollgate, Express or
 * Nest has run before it.
 */
const tracing: Tracing = startTracing();
const { APPS } = await import('./otel-apps.js');
type ServedApp = Awaited<ReturnType<(typeof APPS)[string]>>;

afterAll(() => tracing.stop());

describe.each(Object.keys(APPS))(
  'response capture under OpenTelemetry started first: %s',
  (name) => {
    let app: ServedApp;
    beforeAll(async () => {
      app = await (APPS[name] as () => Promise<ServedApp>)();
    });
    afterAll(() => app.close());

    const target = { url: () => app.url, runs: () => app.runs() };
    capturesUnderTracing(() => tracing, target);
    if (name === 'Express') closesUnderTracing(target);
  },
);
