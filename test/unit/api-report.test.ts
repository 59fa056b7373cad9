import { execFileSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

/**
 * The public API is a decision: what each entry point exports is written down in api/, and a
 * change to it fails here until the reports are regenerated (`npm run api:update`) and committed
 * with it, so a reviewer sees it.
 */
describe('the public API', () => {
  it('matches its reports in api/', () => {
    let output = '';
    try {
      execFileSync(process.execPath, ['scripts/api-report.mjs'], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      output = (error as { stderr?: string }).stderr ?? String(error);
    }
    expect(output).toBe('');
  }, 60_000);
});
