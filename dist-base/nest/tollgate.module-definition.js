import { ConfigurableModuleBuilder } from '@nestjs/common';
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder({ moduleName: 'Tollgate' })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
}))
    .build();
/** The module options, injectable under this token. */
export const TOLLGATE_OPTIONS = MODULE_OPTIONS_TOKEN;
//# sourceMappingURL=tollgate.module-definition.js.map