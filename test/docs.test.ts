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
    expect([...new Set(blocks.map((b) => b.command))].sort()).to.deep.equal(['classifier', 'clip', 'clip-score', 'eval', 'export', 'noise', 'sample', 'train', 'train-ae', 'train-upsampler']);
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
  it('redrawn now, each has the pixels of the committed docs/images file (the script and the docs agree)', () => {
    const { drawAll } = require('../scripts/docs-pictures') as typeof import('../scripts/docs-pictures');
    const { readImagePng } = require('../src/image/png') as typeof import('../src/image/png');
    const os = require('os') as typeof import('os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-pictures-'));
    for (const f of drawAll(dir)) {
      const committed = path.join(__dirname, '..', 'docs', 'images', path.basename(f));
      expect(fs.existsSync(committed), committed).to.equal(true);
      // pixels, not bytes: zlib builds may compress the same pixels differently
      const [now, then] = [readImagePng(f), readImagePng(committed)];
      expect([now.h, now.w, now.c], path.basename(f)).to.deep.equal([then.h, then.w, then.c]);
      expect(Buffer.from(now.data.buffer).equals(Buffer.from(then.data.buffer)), `${path.basename(f)} differs from docs/images (run the script and commit)`).to.equal(true);
    }
  });
});

/**
 * Code quoted in docs/ is the code: every ```ts block's lines (less blank lines, lone braces
 * and `...` elisions) appear, in that order, in one source file (src/, kernels/, examples/).
 */
describe('[docs] quoted code matches the source', () => {
  const root = path.join(__dirname, '..');
  const walk = (dir: string): string[] => fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const sources = ['src', 'kernels', 'examples'].flatMap(walk).map((f) => ({ file: f, lines: fs.readFileSync(path.join(root, f), 'utf8').split('\n').map((l) => l.trim()) }));
  const significant = (l: string) => {
    const t = l.trim();
    return t !== '' && !t.startsWith('...') && !t.startsWith('// ...') && !['{', '}', '};', ');', '});'].includes(t);
  };
  const inOrder = (lines: string[], block: string[]) => {
    let i = 0;
    for (const b of block) {
      while (i < lines.length && lines[i] !== b) i++;
      if (i === lines.length) return false;
      i++;
    }
    return true;
  };
  const docs = ['docs', 'docs/course'].flatMap((d) => fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith('.md')).map((f) => path.join(d, f)));
  for (const doc of docs) {
    const lines = fs.readFileSync(path.join(root, doc), 'utf8').split('\n');
    const blocks: { line: number; body: string[] }[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith('```ts')) continue;
      const end = lines.findIndex((l, k) => k > i && l.startsWith('```'));
      blocks.push({ line: i + 1, body: lines.slice(i + 1, end).filter(significant).map((l) => l.trim()) });
      i = end;
    }
    if (blocks.length === 0) continue;
    it(`${doc}: its ${blocks.length} quoted code block(s) are in the source`, () => {
      const stale = blocks.filter((b) => !sources.some((s) => inOrder(s.lines, b.body)));
      const where = stale.map((b) => `${doc}:${b.line}: first line not in any file in order: ${b.body.find((l) => !sources.some((s) => s.lines.includes(l))) ?? '(all lines exist, but in no single file in this order)'}`);
      expect(where, where.join('\n')).to.deep.equal([]);
    });
  }
});
