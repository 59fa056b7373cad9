import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      // A/B builds for `npm run bench:store` (DIST=dist-<name>).
      'dist-*/',
      'sample-app/dist/',
      'node_modules/',
      'coverage/',
      'bench/results/',
      'test/package/fixtures/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': 'off',
    },
  },
  {
    // The core and the stores know nothing of any web framework: adapters translate.
    files: ['src/core/**/*.ts', 'src/stores/**/*.ts', 'src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@nestjs/*', 'express', 'fastify', '../nest/*', '../express/*'] },
      ],
    },
  },
);
