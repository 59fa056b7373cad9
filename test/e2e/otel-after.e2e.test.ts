import { afterAll, beforeAll, describe } from 'vitest';

import { APPS, type ServedApp } from './otel-apps.js';
import {
  capturesUnderTracing,
  closesUnderTracing,
  startTracing,
  type Tracing,
} from './otel-capture.js';

/**
 * Tracing started last, as an agent attached to a running process does: every app already serves
 * and Tollgate has wrapped `ServerResponse.prototype` before OpenTelemetry's HTTP instrumentation
 * patches the server. Tracing starts once, as it does in a process.
 */
const apps = new Map<string, ServedApp>();
let tracing: Tracing;

beforeAll(async () => {
  for (const [name, serve] of Object.entries(APPS)) apps.set(name, await serve());
  tracing = startTracing();
});

afterAll(async () => {
  for (const app of apps.values()) await app.close();
  await tracing.stop();
});

describe.each(Object.keys(APPS))(
  'response capture under OpenTelemetry started after the app: %s',
  (name) => {
    const app = (): ServedApp => apps.get(name) as ServedApp;
    const target = { url: () => app().url, runs: () => app().runs() };
    capturesUnderTracing(() => tracing, target);
    if (name === 'Express') closesUnderTracing(target);
  },
);
