/**
 * [docs] The `--help` texts quoted in docs/ are what the command line prints today
 * (regenerate them with `npx ts-node --transpile-only scripts/docs-help.ts`).
 */
import { expect } from 'chai';
import * as fs from 'fs';
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

/**
 * Every markdown file of the repository: its relative links lead to files that exist (and to
 * headings that exist, for `file.md#anchor`), and the repository paths it names in backticks
 * exist. No tracked file names a path outside the repository.
 */
describe('[docs] links, named files and self-containment', () => {
  const root = path.join(__dirname, '..');
  const tracked = (): string[] => {
    const { execFileSync } = require('child_process') as typeof import('child_process');
    return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter((f) => f && fs.existsSync(path.join(root, f)));
  };
  const files = tracked();
  const markdown = files.filter((f) => f.endsWith('.md'));
  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
  const anchors = (file: string) => new Set(fs.readFileSync(path.join(root, file), 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
  /** the text outside fenced code blocks */
  const prose = (text: string) => text.split(/^```.*$/m).filter((_, i) => i % 2 === 0).join('\n');

  it('the markdown files are found', () => {
    expect(markdown).to.include.members(['README.md', 'docs/README.md', 'docs/course/README.md', 'kernels/README.md', 'examples/README.md']);
  });

  for (const file of markdown) {
    it(`${file}: every relative link and every named repository file exists`, () => {
      const text = prose(fs.readFileSync(path.join(root, file), 'utf8'));
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1];
        if (/^[a-z]+:/.test(link)) continue; // http:, https:, mailto:
        const [target, anchor] = link.split('#');
        const resolved = target === '' ? file : path.normalize(path.join(path.dirname(file), target));
        if (target !== '' && !fs.existsSync(path.join(root, resolved))) {
          broken.push(`${link} (no file ${resolved})`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${link} (no heading #${anchor} in ${resolved})`);
      }
      // `src/...ts`, `kernels/...`, `test/...`, `scripts/...`, `bench/...`, `examples/...`, `docs/...`, `assets/...` in backticks
      for (const m of text.matchAll(/`((?:src|kernels|test|scripts|bench|examples|docs|assets|datasets)\/[A-Za-z0-9_./-]+\.[a-z]+)`/g)) {
        const named = m[1];
        if (!fs.existsSync(path.join(root, named))) broken.push(`\`${named}\` (no such file)`);
      }
      expect(broken, broken.join('\n')).to.deep.equal([]);
    });
  }

  it('no tracked file names a path outside the repository', () => {
    const outside = /(?:^|[\s('"`])(?:\/work\/|\/home\/|\/root\/|\.\.\/shared\/)/;
    const hits: string[] = [];
    for (const f of files) {
      if (f === 'package-lock.json' || f.startsWith('test/docs.test.ts') || /\.(png|safetensors|gz|bin)$/.test(f)) continue;
      fs.readFileSync(path.join(root, f), 'utf8').split('\n').forEach((line, i) => {
        if (outside.test(line)) hits.push(`${f}:${i + 1}: ${line.trim().slice(0, 100)}`);
      });
    }
    expect(hits, hits.join('\n')).to.deep.equal([]);
  });
});

describe('[docs] the pictures drawn by scripts/docs-pictures.ts', function () {
  this.timeout(60000);
  it('redrawn now, each is byte for byte the committed docs/images file (the script and the docs agree)', () => {
    const { drawAll } = require('../scripts/docs-pictures') as typeof import('../scripts/docs-pictures');
    const os = require('os') as typeof import('os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-pictures-'));
    for (const f of drawAll(dir)) {
      const committed = path.join(__dirname, '..', 'docs', 'images', path.basename(f));
      expect(fs.existsSync(committed), committed).to.equal(true);
      expect(fs.readFileSync(f).equals(fs.readFileSync(committed)), `${path.basename(f)} differs from docs/images (run the script and commit)`).to.equal(true);
    }
  });
});
