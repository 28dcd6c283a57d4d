/**
 * Grade the course: run the tagged tests of each assignment (test/course/) in this copy of
 * the repository, a student copy or the original, and print a score per assignment.
 *
 *   npm run grade            every assignment
 *   npm run grade -- 3 5     assignments 3 and 5
 *   npm run grade -- --json  the scores as JSON (for an instructor's scripts)
 *
 * The tests run in one mocha process (its JSON reporter); a test is an assignment's when its
 * full title carries the assignment's tag, `[assignment <n>: <title>]`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ASSIGNMENTS, assignmentTag, type Assignment } from './assignments';

export interface AssignmentScore {
  n: number;
  title: string;
  passed: number;
  total: number;
  /** the first failure's title and message, to start from */
  firstFailure?: string;
}

interface MochaJson {
  tests: { fullTitle: string; err?: { message?: string } }[];
  pending: { fullTitle: string }[];
  failures: { fullTitle: string; err?: { message?: string } }[];
}

/** Run the tests of `assignments` in `root` and count, per assignment, the tests that pass. */
export function grade(root: string, assignments: readonly Assignment[] = ASSIGNMENTS, timeoutMs = 20000): AssignmentScore[] {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-grade-')), 'results.json');
  const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
  if (!fs.existsSync(mocha)) throw new Error(`grade: no mocha in ${path.join(root, 'node_modules')}; run npm ci there first`);
  const files = assignments.map((a) => a.test);
  for (const f of files) if (!fs.existsSync(path.join(root, f))) throw new Error(`grade: no test file ${f} in ${root}`);
  const r = spawnSync(process.execPath, [mocha, '--reporter', 'json', '--reporter-option', `output=${out}`, '--timeout', String(timeoutMs), ...files], {
    cwd: root, encoding: 'utf8', env: { ...process.env, TINY_DDPM_SINGLE_THREADED_GC: '0' },
  });
  let results: MochaJson | null = null;
  try {
    results = JSON.parse(fs.readFileSync(out, 'utf8')) as MochaJson;
  } catch {
    results = null;
  } finally {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
  if (!results) {
    // the test files did not even load (a syntax error, say): every assignment scores 0, with mocha's first error line
    const why = (r.stderr || r.stdout || '').split('\n').find((l) => /Error|error/.test(l))?.trim() ?? `mocha exited with ${r.status}`;
    return assignments.map((a) => ({ n: a.n, title: a.title, passed: 0, total: 0, firstFailure: why }));
  }
  const failed = new Map(results.failures.map((f) => [f.fullTitle, f.err?.message ?? '']));
  return assignments.map((a) => {
    const tag = assignmentTag(a);
    // a skipped test (a backend that cannot start here) counts neither way
    const skipped = new Set((results!.pending ?? []).map((t) => t.fullTitle));
    const mine = results!.tests.filter((t) => t.fullTitle.includes(tag) && !skipped.has(t.fullTitle));
    const fails = mine.filter((t) => failed.has(t.fullTitle));
    // a failure of a before() hook is reported as a failure and not as a test: count it as one failed test
    const hookFails = results!.failures.filter((f) => f.fullTitle.includes(tag) && !mine.some((t) => t.fullTitle === f.fullTitle));
    const first = fails[0] ?? hookFails[0];
    return {
      n: a.n, title: a.title,
      passed: mine.length - fails.length,
      total: mine.length + hookFails.length,
      ...(first ? { firstFailure: `${first.fullTitle.replace(tag, '').trim()}: ${(failed.get(first.fullTitle) ?? first.err?.message ?? '').split('\n')[0]}` } : {}),
    };
  });
}

/** The score table, one line per assignment and a total. */
export function formatScores(scores: AssignmentScore[]): string {
  const width = Math.max(...scores.map((s) => s.title.length));
  const lines = scores.map((s) => {
    const full = s.total > 0 && s.passed === s.total;
    return `  ${String(s.n).padStart(2)}  ${s.title.padEnd(width)}  ${String(s.passed).padStart(2)}/${String(s.total).padEnd(2)}  ${full ? 'full marks' : ''}` +
      (!full && s.firstFailure ? `\n        first failure: ${s.firstFailure.slice(0, 160)}` : '');
  });
  const passed = scores.reduce((a, s) => a + s.passed, 0);
  const total = scores.reduce((a, s) => a + s.total, 0);
  const done = scores.filter((s) => s.total > 0 && s.passed === s.total).length;
  return ['assignment', ...lines, `total: ${passed}/${total} tests; ${done} of ${scores.length} assignments at full marks`].join('\n');
}

function main(argv: string[]): number {
  const json = argv.includes('--json');
  const picks = argv.filter((a) => a !== '--json');
  const chosen: Assignment[] = [];
  for (const p of picks) {
    const a = ASSIGNMENTS.find((x) => String(x.n) === p);
    if (!a) {
      process.stderr.write(`grade: '${p}' is not an assignment number (they are 1-${ASSIGNMENTS.length})\n`);
      return 2;
    }
    chosen.push(a);
  }
  try {
    const scores = grade(process.cwd(), chosen.length ? chosen : ASSIGNMENTS);
    process.stdout.write((json ? JSON.stringify(scores, null, 2) : formatScores(scores)) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write((err as Error).message + '\n');
    return 2;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
