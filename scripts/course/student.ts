/**
 * Write a student copy of the repository: every file git knows (tracked, or new and not
 * ignored), with each solution region replaced by `throw new Error('TODO: assignment <n>')`
 * (scripts/course/regions.ts). node_modules is linked from this checkout, so the copy runs
 * at once, offline; `npm ci` in the copy gives it its own.
 *
 *   npm run student -- DIR               every assignment to do
 *   npm run student -- DIR --solved 1,2  keep the solutions of assignments 1 and 2
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ASSIGNMENTS } from './assignments';
import { findRegions, stripSolutions } from './regions';

export const ROOT = path.join(__dirname, '..', '..');

/** The repository's files (relative paths): git's tracked and unignored files, or a walk that skips what git ignores here. */
export function repositoryFiles(root = ROOT): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\0').filter((f) => f && fs.existsSync(path.join(root, f)));
  } catch {
    const skip = new Set(['.git', 'node_modules', 'dist', 'runs', 'scratch']);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const rel = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!skip.has(e.name)) walk(rel);
        } else if (e.isFile()) files.push(rel);
      }
    };
    walk('');
    return files;
  }
}

export interface StudentCopy {
  dir: string;
  files: number;
  /** how many regions each assignment lost */
  stripped: Map<number, number>;
}

export function writeStudentCopy(dir: string, opts: { solved?: number[]; root?: string; linkModules?: boolean } = {}): StudentCopy {
  const root = opts.root ?? ROOT;
  const keep = new Set(opts.solved ?? []);
  const known = new Set(ASSIGNMENTS.map((a) => a.n));
  for (const n of keep) if (!known.has(n)) throw new Error(`student: --solved ${n}: there is no assignment ${n} (they are 1-${ASSIGNMENTS.length})`);
  const target = path.resolve(dir);
  const inside = path.relative(path.resolve(root), target);
  if (inside === '' || (!inside.startsWith('..') && !path.isAbsolute(inside))) {
    throw new Error(`student: '${dir}' is inside this repository; give a folder outside it`);
  }
  if (fs.existsSync(target) && fs.readdirSync(target).length > 0) throw new Error(`student: '${dir}' exists and is not empty`);
  const stripped = new Map<number, number>();
  const files = repositoryFiles(root);
  for (const rel of files) {
    const from = path.join(root, rel);
    const to = path.join(target, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    if (rel.endsWith('.ts')) {
      const text = fs.readFileSync(from, 'utf8');
      const r = stripSolutions(text, keep, rel);
      for (const n of r.stripped) stripped.set(n, (stripped.get(n) ?? 0) + 1);
      fs.writeFileSync(to, r.text);
    } else {
      fs.copyFileSync(from, to);
    }
  }
  // every assignment of the manifest has its regions, and no region is outside the manifest
  for (const a of ASSIGNMENTS) {
    const count = a.files.reduce((s, f) => s + findRegions(fs.readFileSync(path.join(root, f), 'utf8'), f).filter((r) => r.n === a.n).length, 0);
    if (count === 0) throw new Error(`student: assignment ${a.n} has no solution region in ${a.files.join(', ')}`);
  }
  for (const n of stripped.keys()) if (!known.has(n)) throw new Error(`student: a SOLUTION ${n} region belongs to no assignment`);
  const modules = path.join(root, 'node_modules');
  if ((opts.linkModules ?? true) && fs.existsSync(modules)) fs.symlinkSync(modules, path.join(target, 'node_modules'), 'dir');
  return { dir: target, files: files.length, stripped };
}

function main(argv: string[]): number {
  const args = argv.slice();
  let solved: number[] = [];
  const at = args.indexOf('--solved');
  if (at >= 0) {
    const list = args[at + 1];
    if (list === undefined) return fail('student: --solved needs a list of assignments, e.g. --solved 1,2');
    solved = list.split(',').map((s) => Number(s.trim()));
    if (solved.some((n) => !Number.isInteger(n))) return fail(`student: --solved '${list}' is not a list of assignment numbers`);
    args.splice(at, 2);
  }
  if (args.length !== 1) return fail('usage: npm run student -- DIR [--solved 1,2,...]');
  try {
    const copy = writeStudentCopy(args[0], { solved });
    const todo = [...copy.stripped.keys()].sort((a, b) => a - b);
    process.stdout.write(
      `student copy in ${copy.dir} (${copy.files} files); to do: assignments ${todo.join(', ') || 'none'}\n` +
        `start with ${ASSIGNMENTS.find((a) => a.n === todo[0])?.page ?? 'docs/course/README.md'}; check your work with: cd ${args[0]} && npm run grade\n`,
    );
    return 0;
  } catch (err) {
    return fail((err as Error).message);
  }
}

function fail(message: string): number {
  process.stderr.write(message + '\n');
  return 2;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
