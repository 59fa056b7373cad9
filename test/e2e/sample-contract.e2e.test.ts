import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { describeSampleContract } from './sample-contract.js';

/** Every variant of the sample keeps the same black-box contract (issue 4: "one e2e suite run against each"). */

describeSampleContract('Nest', {
  entry: resolve('sample-app/dist/sample-app/src/main.js'),
  async start({ redisUrl }) {
    const { app } = await createSampleApp({ redisUrl, logger: false });
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
});

describeSampleContract('Express', {
  entry: resolve('sample-app/dist/sample-app/src/express/main.js'),
  async start({ redisUrl }) {
    const { app, store } = await createExpressSampleApp({ redisUrl, logger: false });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return {
      baseUrl: `http://127.0.0.1:${port}`,
      async close() {
        const closed = new Promise((done) => server.close(done));
        server.closeAllConnections();
        await closed;
        await store.close?.();
      },
    };
  },
});
