import { createSampleApp } from './create-app.js';

const redisUrl = process.env.REDIS_URL || undefined;
const port = Number(process.env.PORT || 3000);
const lease = (process.env.TOLLGATE_LEASE || undefined) as `${number}s` | undefined;

console.log(
  redisUrl
    ? `tollgate sample: store redis (${redisUrl.replace(/\/\/[^@]*@/, '//***@')})`
    : 'tollgate sample: store in-memory (set REDIS_URL to use Redis)',
);
const { app } = await createSampleApp({ redisUrl, lease });
await app.listen(port, '127.0.0.1');
console.log(`listening on http://127.0.0.1:${port}`);
