/**
 * [docs] The `--help` texts quoted in docs/ are what the command line prints today
 * (regenerate them with `npx ts-node --transpile-only scripts/docs-help.ts`).
 */
import { expect } from 'chai';
import * as path from 'path';
import { helpBlocks, helpText, markdownFiles } from '../scripts/docs-help';

describe('[docs] command help quoted in docs/', () => {
  const blocks = markdownFiles().flatMap((f) => helpBlocks(f));

  it('quotes the help of every command', () => {
    expect([...new Set(blocks.map((b) => b.command))].sort()).to.deep.equal(['classifier', 'clip', 'clip-score', 'eval', 'noise', 'sample', 'train']);
  });

  for (const b of blocks) {
    it(`${path.basename(b.file)}: tiny-ddpm ${b.command} --help is current`, async () => {
      expect(b.text).to.equal(await helpText(b.command));
    });
  }
});
