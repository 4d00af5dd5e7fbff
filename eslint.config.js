// ESLint (flat config) for the web page and its browser tests: `make lint`, part of `make test`.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/**', 'target/**', '.local/**'] },
  js.configs.recommended,
  {
    files: ['web/js/**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-alert': 'error',
      eqeqeq: ['error', 'always'],
      'no-implied-eval': 'error',
      'no-eval': 'error',
      'prefer-const': 'error',
      'no-var': 'error',
      // Markup only through dom.js's h(): no innerHTML, so nothing the API returns is parsed as HTML.
      'no-restricted-properties': ['error',
        { property: 'innerHTML', message: 'build elements with h() (dom.js)' },
        { property: 'outerHTML', message: 'build elements with h() (dom.js)' },
        { object: 'localStorage', message: 'no tokens or state in localStorage (docs/WEB.md)' }],
    },
  },
  {
    files: ['tests/browser/**/*.js', 'eslint.config.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_' }] },
  },
];
