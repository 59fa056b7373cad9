import { type OnApplicationShutdown } from '@nestjs/common';
import { TollgateStore } from '../stores/store.js';
import { ConfigurableModuleClass } from './tollgate.module-definition.js';
/**
 * Tollgate for NestJS. `TollgateModule.forRoot({ store })` or `forRootAsync({ useFactory, inject })`;
 * global by default. Closes its store when the application shuts down.
 */
export declare class TollgateModule extends ConfigurableModuleClass implements OnApplicationShutdown {
    private readonly store;
    constructor(store: TollgateStore);
    onApplicationShutdown(): Promise<void>;
}
//# sourceMappingURL=tollgate.module.d.ts.map