import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { describeSampleContract } from './sample-contract.js';

/** The third variant of the sample (issue 4): the Nest sample on @nestjs/platform-fastify. */
describeSampleContract('Nest on Fastify', {
  entry: resolve('sample-app/dist/sample-app/src/fastify/main.js'),
  async start({ redisUrl }) {
    const { app } = await createSampleApp({ redisUrl, logger: false, platform: 'fastify' });
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
});
