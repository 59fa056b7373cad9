/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'5s'`, `'10m'`, `'24h'`, `'1d'`. */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';
/** Milliseconds in `n` seconds: `seconds(5)` reads better than `5000`. */
export declare const seconds: (n: number) => number;
export declare const minutes: (n: number) => number;
export declare const hours: (n: number) => number;
export declare const days: (n: number) => number;
/**
 * Parses a duration to whole milliseconds. `what` names the option in the error, so a typo in
 * configuration says which setting to fix.
 */
export declare function toMilliseconds(value: Duration | string, what: string): number;
//# sourceMappingURL=duration.d.ts.map