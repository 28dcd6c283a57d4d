// Loaded before every test file (see .mocharc.js).
import { manualSeed } from '../src/random';

// Each test starts from the same default seed, so a test's random data does not depend on
// which tests ran before it.
export const mochaHooks = {
  beforeEach() {
    manualSeed(1234);
  },
};
