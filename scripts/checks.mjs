// The static checks of `npm test` (types, lint, formatting), run side by side: each is one
// single-threaded process, so on a machine with several cores they take as long as the slowest
// rather than the sum. Each one's output is printed whole once it ends, so the logs never
// interleave; the exit code is non-zero if any failed.
import { spawn } from 'node:child_process';
import process from 'node:process';

const checks = ['typecheck', 'lint', 'format:check'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const results = await Promise.all(
  checks.map(
    (check) =>
      new Promise((resolve) => {
        const started = Date.now();
        const child = spawn(npm, ['run', '--silent', check], { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        child.on('close', (code) => {
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          process.stdout.write(
            `\n> ${check}: ${code === 0 ? 'ok' : `failed (${code})`}, ${seconds} s\n`,
          );
          if (output.trim() !== '')
            process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
          resolve(code === 0);
        });
      }),
  ),
);
process.exit(results.every(Boolean) ? 0 : 1);
