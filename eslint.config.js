// ESLint: typescript-eslint's recommended rules, plus the import zones of docs/architecture.md.
import tseslint from 'typescript-eslint';

const zone = (files, patterns, message) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group: [group], message })) }] },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench/results/**', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  zone(['src/acme/**'], ['**/connectors/**', '**/storage/sql/**', '**/issuance/service*', '**/app/**'], 'acme/ sees ra, protocol, lib and storage types only (docs/architecture.md)'),
  zone(['src/ra/**'], ['koa', '@koa/*', '**/acme/**', '**/connectors/**', '**/storage/sql/**', '**/app/**'], 'ra/ never sees Koa, connectors or SQL (docs/architecture.md)'),
  zone(['src/va/**'], ['koa', '**/acme/**', '**/storage/**', '**/ra/**', '**/connectors/**', '**/app/**'], 'va/ never sees Koa or storage (docs/architecture.md)'),
  zone(['src/issuance/**'], ['koa', '**/acme/**', '**/connectors/**', '**/storage/sql/**', '**/app/**'], 'issuance/ talks to connectors only through src/sdk (docs/architecture.md)'),
  zone(['src/sdk/**'], ['../*', '!./*'], 'src/sdk is self-contained so outside connectors can depend on it alone'),
  zone(['connectors/**'], ['**/src/!(sdk)/**', '**/src/!(sdk)'], 'connectors import only src/sdk (docs/architecture.md)'),
  zone(['src/protocol/**', 'src/lib/**'], ['**/acme/**', '**/ra/**', '**/va/**', '**/storage/**', '**/issuance/**', '**/app/**', '**/connectors/**'], 'protocol/ and lib/ are leaves'),
  { files: ['test/**', 'bench/**'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
