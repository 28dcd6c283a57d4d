/**
 * [unit 0: setup] What `npm ci` promises a learner: the library builds into dist/, so
 * `require('tiny-ddpm')` works from the repository root and the `tiny-ddpm` command answers.
 * Skipped when dist/ has not been built (`npm run build`).
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'src', 'index.js');

describe('[unit 0: setup] the built package', function () {
  before(function () {
    if (!fs.existsSync(built)) this.skip();
  });

  it("require('tiny-ddpm') from the repository root gives the library", () => {
    const out = execFileSync(process.execPath, ['-e', "const t = require('tiny-ddpm'); console.log(t.tensor([[1, 2], [3, 4]]).matmul(t.tensor([[1], [1]])).tolist().join(','))"], { cwd: root, encoding: 'utf8' });
    expect(out.trim()).to.equal('3,7');
  });

  it('the tiny-ddpm command lists its commands', () => {
    const bin = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).bin['tiny-ddpm'];
    const out = execFileSync(process.execPath, [path.join(root, bin), '--help'], { cwd: root, encoding: 'utf8' });
    for (const cmd of ['train', 'sample', 'noise', 'eval', 'classifier']) expect(out).to.contain(`tiny-ddpm ${cmd}`);
  });
});
