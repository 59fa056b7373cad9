import { createSampleApp } from './create-app.js';
import { configFromEnv, exitIfStoreUnreachable, storeBanner } from './shared/config.js';

const { redisUrl, port, lease } = configFromEnv(process.env);

console.log(storeBanner(redisUrl));
const { app } = await createSampleApp({ redisUrl, lease }).catch(exitIfStoreUnreachable);
await app.listen(port, '127.0.0.1');
console.log(`listening on http://127.0.0.1:${port}`);
