import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

import { describe, expect, it } from 'vitest';

/**
 * The docs are read on GitHub, in `node_modules/tollgate/docs/` and on unpkg: every relative link
 * must lead to a file, and a page in docs/ may only lead to what the package ships.
 */
const SHIPPED_OUTSIDE_DOCS = new Set(['README.md', 'CHANGELOG.md', 'LICENSE']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? markdownFiles(join(dir, entry.name))
      : entry.name.endsWith('.md')
        ? [join(dir, entry.name)]
        : [],
  );
}

function relativeLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] as string)
    .filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith('#'))
    .map((target) => normalize(join(dirname(file), target.replace(/#.*$/, ''))));
}

const pages = ['README.md', 'CONTRIBUTING.md', ...markdownFiles('docs')];

describe('links in the docs', () => {
  it.each(pages)('%s links only to files that exist', (page) => {
    const missing = relativeLinks(page).filter((target) => !existsSync(target));
    expect(missing).toEqual([]);
  });

  it.each(markdownFiles('docs'))('%s links only to what the package ships', (page) => {
    const outside = relativeLinks(page).filter(
      (target) => !target.startsWith('docs/') && !SHIPPED_OUTSIDE_DOCS.has(target),
    );
    expect(outside).toEqual([]);
  });
});
