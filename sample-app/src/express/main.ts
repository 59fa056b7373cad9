import type { AddressInfo } from 'node:net';

import { configFromEnv, exitIfStoreUnreachable, storeBanner } from '../shared/config.js';
import { createExpressSampleApp } from './create-app.js';

const { port, ...config } = configFromEnv(process.env);

console.log(storeBanner(config.redisUrl));
const { app, store } = await createExpressSampleApp(config).catch(exitIfStoreUnreachable);
const server = app.listen(port, '127.0.0.1', (error?: Error) => {
  if (error) throw error;
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// Like Nest's shutdown hooks: stop taking requests, then close the store's connection.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void store.close?.());
    server.closeIdleConnections();
  });
}
