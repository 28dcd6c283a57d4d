// Tests run from the TypeScript sources through ts-node (transpile-only: `npm run typecheck`
// and the build in `npm ci` check the types). The reporter prints mocha's usual output and
// a closing `N passed, N failed` line.
module.exports = {
  require: ['ts-node/register/transpile-only', 'test/setup.ts'],
  reporter: 'test/reporter.js',
  timeout: 120000,
  'node-option': ['expose-gc'],
};
