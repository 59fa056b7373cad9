import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
} from 'express';
import { documentTollgateRoute, idempotent, storeHealth, throttle } from 'tollgate/express';
import {
  PROBLEM_CONTENT_TYPE,
  TollgateHttpError,
  type IdempotencyOptions,
  type ThrottleLimits,
  type TollgateStore,
} from 'tollgate';
import { openStores, type SampleAppConfig } from '../shared/config.js';
import { demoFile } from '../shared/demo.js';
import { SERVER_ERROR_DETAIL, demoPrincipal, sampleProblem } from '../shared/http.js';
import { ExecutionCounter, OrderBook, orderHeaders, parseOrder } from '../shared/orders.js';
import { ROUTE_LIMITS, quote, search } from '../shared/limits.js';
import { checkLogin, LOGIN_FAILED, LOGIN_LIMITS, loginUserName } from '../shared/login.js';
import { takePayment, type PaymentLedger } from '../shared/payments.js';
import { ROUTE_PROTECTION } from '../shared/protection.js';
import { serveSwaggerUi } from './docs.js';
import { sampleDocumentSkeleton } from './openapi.js';

/**
 * The Express variant of the sample: the routes and behaviour of the Nest sample, with
 * `idempotent()` and `throttle()` middleware in place of `@Idempotent()` and `@Throttle()`.
 */
export async function createExpressSampleApp(config: SampleAppConfig): Promise<{
  app: Express;
  store: TollgateStore;
  ledger: PaymentLedger;
  /** Closes the ledger's own connections (PostgreSQL), after the store's. */
  close(): Promise<void>;
}> {
  // Requests that arrive right after "listening" must find the store connected.
  const { store, limitStore, ledger, close } = await openStores(config);
  // Quiet when asked, like the Nest sample's `logger: false`; else the default warnings.
  const onEvent = config.onEvent ?? (config.logger === false ? () => undefined : undefined);
  const protect = (options: IdempotencyOptions): RequestHandler =>
    idempotent({
      store,
      ...(config.lease === undefined ? {} : { lease: config.lease }),
      ...(onEvent === undefined ? {} : { onEvent }),
      ...options,
    });
  const events = onEvent === undefined ? {} : { onEvent };
  const limit = (limits: ThrottleLimits): RequestHandler =>
    throttle({ store: limitStore, limits, ...events });
  // Every entry is one handler execution of this app, which GET answers with.
  const orders = new OrderBook();
  const reports = new ExecutionCounter('rep');
  const commands = new ExecutionCounter('cmd');

  // The OpenAPI document: each protected route is documented from the middleware mounted on it.
  const document = sampleDocumentSkeleton();
  const documented = (method: string, path: string, ...middleware: RequestHandler[]) => {
    documentTollgateRoute(document, method, path, ...middleware);
    return middleware;
  };

  const app = express();
  // First, so a readiness probe is never parsed, limited nor protected: 200 or 503 within ~1 s.
  app.get('/health', storeHealth({ store, timeout: '1s' }));
  const metrics = config.metrics;
  if (metrics) app.get('/metrics', (req, res) => metrics.serve(req, res));
  app.get('/docs-json', (_req, res) => {
    res.json(document);
  });
  serveSwaggerUi(app, '/docs-json');
  // The same parsers, with the same limits, as Nest's default on Express.
  app.use(express.json(), express.urlencoded({ extended: true }));
  // Before the routes, so `req.user` scopes idempotency keys and rate limits per user.
  app.use(demoAuth);

  app.post(
    '/orders',
    ...documented('post', '/orders', protect(ROUTE_PROTECTION.orders)),
    async (req, res) => {
      const order = await orders.place(parseOrder(req.body));
      res.status(201).set(orderHeaders(order)).json(order);
    },
  );
  app.get('/orders', (_req, res) => {
    res.json(orders.list());
  });

  app.post(
    '/payments',
    ...documented('post', '/payments', protect(ROUTE_PROTECTION.payments)),
    async (req, res) => {
      // `req.idempotency`: the lease this request runs under, put there by `idempotent()`.
      const lease = req.idempotency;
      const { user } = req as Request & { user?: { id: string } };
      const idempotencyKey = req.headers['idempotency-key'];
      res
        .status(201)
        .json(await takePayment(ledger, { body: req.body, idempotencyKey, user }, lease));
    },
  );
  app.get('/payments', async (_req, res) => {
    res.json(await ledger.list());
  });

  app.post(
    '/reports',
    ...documented('post', '/reports', protect(ROUTE_PROTECTION.reports)),
    (_req, res) => {
      res.status(201).json(reports.run());
    },
  );
  app.get('/reports', (_req, res) => {
    res.json(reports.count());
  });

  app.post(
    '/commands',
    ...documented('post', '/commands', protect(ROUTE_PROTECTION.commands)),
    (_req, res) => {
      res.status(202).json(commands.run());
    },
  );
  app.get('/commands', (_req, res) => {
    res.json(commands.count());
  });

  app.get('/quotes', ...documented('get', '/quotes', limit(ROUTE_LIMITS.quotes)), (_req, res) => {
    res.json(quote());
  });
  app.get('/search', ...documented('get', '/search', limit(ROUTE_LIMITS.search)), (req, res) => {
    res.json(search(req.query.q));
  });

  // The brute-force recipe: the address first (successes given back), then the user name; a
  // success resets the user's count.
  const loginPerAddress = throttle({
    store: limitStore,
    limits: LOGIN_LIMITS.perAddress,
    skipSuccessfulRequests: true,
    headers: 'when-limited',
    ...events,
  });
  const loginPerUser = throttle({
    store: limitStore,
    limits: LOGIN_LIMITS.perUser,
    tracker: loginUserName,
    ...events,
  });
  app.post('/login', loginPerAddress, loginPerUser, async (req, res) => {
    const login = checkLogin(req.body);
    if (!login) {
      res.status(401).type(PROBLEM_CONTENT_TYPE).json(sampleProblem(401, LOGIN_FAILED));
      return;
    }
    await loginPerUser.reset(req);
    res.json(login);
  });

  // The checkout demo: the page, its script and tollgate/client, as `demoFile` serves them.
  app.get('/demo{/:file}', async (req, res, next) => {
    const file = await demoFile(req.params.file);
    if (!file) return next();
    res.status(200).set(file.headers).send(file.body);
  });

  app.use(notFound);
  app.use(problemJson(config.logger === false ? () => undefined : logError));
  return { app, store, ledger, close };
}

/** `Authorization: Bearer <name>` makes `<name>` the user; see `demoPrincipal`. */
const demoAuth: RequestHandler = (req, _res, next) => {
  const user = demoPrincipal(req.headers.authorization);
  if (user) (req as Request & { user?: { id: string } }).user = user;
  next();
};

/** The same 404 as Nest's: `Cannot GET /path`. */
const notFound: RequestHandler = (req, res) => {
  res
    .status(404)
    .type(PROBLEM_CONTENT_TYPE)
    .json(sampleProblem(404, `Cannot ${req.method} ${req.originalUrl}`));
};

/**
 * Every error as problem+json, like Nest's exception filter in the Nest sample: client errors
 * (a refused body, a body parser's 4xx) with their message, anything else as a 500.
 */
function problemJson(log: (message: string) => void): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    // Headers already went out: only Express can still end this response (by closing it).
    if (res.headersSent) {
      next(error);
      return;
    }
    // Tollgate's problems a handler throws (`lease.throwIfLost()`: 409 lease-lost), as they are.
    if (error instanceof TollgateHttpError) {
      res
        .status(error.status)
        .set(error.headers)
        .type(PROBLEM_CONTENT_TYPE)
        .json(error.toProblem());
      return;
    }
    const status = clientErrorStatus(error) ?? 500;
    if (status >= 500) log(error instanceof Error ? error.message : String(error));
    const detail = status >= 500 ? SERVER_ERROR_DETAIL : (error as Error).message;
    res.status(status).type(PROBLEM_CONTENT_TYPE).json(sampleProblem(status, detail));
  };
}

/** The 4xx an error stands for, if it is a client error whose message is meant for the client. */
function clientErrorStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  // http-errors (body-parser's) and the sample's InvalidRequestError both carry `status`.
  const { status, expose } = error as Error & { status?: unknown; expose?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499 || expose === false)
    return undefined;
  return status;
}

function logError(message: string): void {
  console.error(`sample: ${message}`);
}
