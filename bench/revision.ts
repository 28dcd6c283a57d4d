/**
 * A source file of this repository as it is at a git revision, loaded as a module beside the
 * working tree's copy (for bench/kernel-ab.ts and bench/step-ab.ts, which time the two in one
 * process). The file is written to a temporary folder with its relative imports pointed back
 * at this checkout, so the revision's file must import what the working tree still exports.
 * A revision or file that does not exist is one line on stderr and exit code 1.
 */
import { execFileSync } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const root = resolve(__dirname, '..');

/** `file` (relative to the repository root, e.g. kernels/conv2d.ts) at `rev`, required. */
export function revisionModule(tool: string, rev: string, file: string): any {
  let sha: string;
  let source: string;
  try {
    sha = execFileSync('git', ['rev-parse', '--short', rev], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    source = execFileSync('git', ['show', `${sha}:${file}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    console.error(`${tool}: no ${file} at revision "${rev}" in this repository`);
    process.exit(1);
  }
  const dir = join(tmpdir(), `tiny-ddpm-${sha}`, file.replace(/[/.]/g, '_'));
  mkdirSync(dir, { recursive: true });
  const copy = join(dir, 'module.ts');
  const fileDir = resolve(root, file, '..');
  writeFileSync(copy, source.replace(/from '(\.{1,2}\/[^']+)'/g, (_m, rel: string) => `from ${JSON.stringify(resolve(fileDir, rel))}`));
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(copy);
}
