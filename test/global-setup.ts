import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * Builds the package and then the sample app once before the suite, so tests can run the sample as
 * users do (`node` on the built entry point, importing the built package by its name) and kill it
 * like a crashed process.
 */
export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, [tsc, '-p', 'sample-app/tsconfig.json'], { stdio: 'inherit' });
}
