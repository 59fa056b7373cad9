import { TollgateConfigError } from './errors.js';
const UNIT_MS = {
    ms: 1,
    s: 1_000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
};
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
/** Milliseconds in `n` seconds: `seconds(5)` reads better than `5000`. */
export const seconds = (n) => n * UNIT_MS.s;
export const minutes = (n) => n * UNIT_MS.m;
export const hours = (n) => n * UNIT_MS.h;
export const days = (n) => n * UNIT_MS.d;
/**
 * Parses a duration to whole milliseconds. `what` names the option in the error, so a typo in
 * configuration says which setting to fix.
 */
export function toMilliseconds(value, what) {
    let ms;
    if (typeof value === 'number') {
        ms = value;
    }
    else {
        const match = DURATION_PATTERN.exec(value.trim());
        if (!match) {
            throw new TollgateConfigError('TOLLGATE_INVALID_DURATION', `${what} is "${value}", which is not a duration: use milliseconds or a string such as '500ms', '5s', '10m', '24h', '1d'`);
        }
        ms = Number(match[1]) * UNIT_MS[match[2]];
    }
    if (!Number.isFinite(ms) || ms < 1) {
        throw new TollgateConfigError('TOLLGATE_INVALID_DURATION', `${what} must be at least 1 ms, got ${String(value)}`);
    }
    return Math.round(ms);
}
//# sourceMappingURL=duration.js.map