/**
 * [course] The course's machinery (scripts/course/): solution regions, the student copy and
 * the grader. The student copy must build, score 0 on every assignment, and reach full marks
 * on assignment 1 once its solution is back; this checkout scores full marks everywhere.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ASSIGNMENTS, assignmentTag } from '../scripts/course/assignments';
import { findRegions, stripSolutions } from '../scripts/course/regions';
import { repositoryFiles, ROOT, writeStudentCopy } from '../scripts/course/student';
import { formatScores, grade } from '../scripts/course/grade';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-course-'));

describe('[course] solution regions', () => {
  const text = ['function f() {', '  const a = 1;', '  // BEGIN SOLUTION 2', '  return a + 1;', '  // END SOLUTION 2', '}', '  // BEGIN SOLUTION 3', 'x', '  // END SOLUTION 3', ''].join('\n');

  it('a region, markers included, becomes one TODO line at the marker\'s indentation; kept regions stay as they are', () => {
    expect(findRegions(text).map((r) => [r.n, r.begin, r.end])).to.deep.equal([[2, 2, 4], [3, 6, 8]]);
    const all = stripSolutions(text);
    expect(all.stripped).to.deep.equal([2, 3]);
    expect(all.text).to.equal(['function f() {', '  const a = 1;', "  throw new Error('TODO: assignment 2');", '}', "  throw new Error('TODO: assignment 3');", ''].join('\n'));
    const keep2 = stripSolutions(text, new Set([2]));
    expect(keep2.stripped).to.deep.equal([3]);
    expect(keep2.text.split('\n').slice(0, 6)).to.deep.equal(text.split('\n').slice(0, 6));
    expect(stripSolutions('no regions\n').text).to.equal('no regions\n');
  });

  it('unpaired, mismatched and nested markers are errors naming the file and line', () => {
    expect(() => findRegions('// BEGIN SOLUTION 1\n', 'a.ts')).to.throw("a.ts: SOLUTION 1 opened at line 1 is never closed");
    expect(() => findRegions('x\n// END SOLUTION 1\n', 'a.ts')).to.throw('a.ts:2: END SOLUTION 1 without a BEGIN');
    expect(() => findRegions('// BEGIN SOLUTION 1\n// END SOLUTION 2\n', 'a.ts')).to.throw('a.ts:2: END SOLUTION 2 closes SOLUTION 1 (opened at line 1)');
    expect(() => findRegions('// BEGIN SOLUTION 1\n  // BEGIN SOLUTION 2\n', 'a.ts')).to.throw('a.ts:2: BEGIN SOLUTION 2 inside SOLUTION 1 (opened at line 1)');
  });

  it('every assignment has its page, its regions in the files it names, and a test file whose tests carry its tag; no region is outside an assignment', () => {
    const numbers = new Set<number>();
    for (const file of repositoryFiles().filter((f) => f.endsWith('.ts') && !f.startsWith('test/course.test.ts'))) {
      for (const r of findRegions(fs.readFileSync(path.join(ROOT, file), 'utf8'), file)) numbers.add(r.n);
    }
    expect([...numbers].sort((a, b) => a - b)).to.deep.equal(ASSIGNMENTS.map((a) => a.n));
    ASSIGNMENTS.forEach((a, i) => {
      expect(a.n, 'course order').to.equal(i + 1);
      expect(fs.existsSync(path.join(ROOT, a.page)), a.page).to.equal(true);
      for (const f of a.files) expect(findRegions(fs.readFileSync(path.join(ROOT, f), 'utf8'), f).some((r) => r.n === a.n), `${f} holds SOLUTION ${a.n}`).to.equal(true);
      expect(fs.readFileSync(path.join(ROOT, a.test), 'utf8'), a.test).to.include(assignmentTag(a));
    });
    const testFiles = fs.readdirSync(path.join(ROOT, 'test', 'course')).map((f) => `test/course/${f}`);
    expect(testFiles.sort()).to.deep.equal(ASSIGNMENTS.map((a) => a.test).sort());
  });
});

describe('[course] the student copy and the grader', function () {
  this.timeout(300000);
  let student = '';
  before(() => {
    student = path.join(tmp(), 'student');
    writeStudentCopy(student);
  });

  it('the student copy holds every file, with the solutions replaced by TODOs, and builds (tsc)', () => {
    for (const a of ASSIGNMENTS) {
      for (const f of a.files) {
        const text = fs.readFileSync(path.join(student, f), 'utf8');
        expect(text, f).to.include(`throw new Error('TODO: assignment ${a.n}');`);
        expect(findRegions(text, f)).to.deep.equal([]);
      }
    }
    expect(fs.readFileSync(path.join(student, 'README.md'), 'utf8')).to.equal(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit'], { cwd: student, stdio: 'pipe' });
  });

  it('npm run grade there: 0 on every assignment; with assignment 1 solved there: full marks for it', () => {
    const before = grade(student);
    for (const s of before) {
      expect(s.total, `assignment ${s.n} has tests`).to.be.above(0);
      expect(s.passed, `assignment ${s.n} in the student copy`).to.equal(0);
      expect(s.firstFailure, `assignment ${s.n}`).to.match(/TODO: assignment \d+|ThrowStatement/);
    }
    // the learner writes assignment 1: here, its solution put back in the copy
    const a1 = ASSIGNMENTS[0];
    for (const f of a1.files) {
      const solved = stripSolutions(fs.readFileSync(path.join(ROOT, f), 'utf8'), new Set([a1.n]), f).text;
      fs.writeFileSync(path.join(student, f), solved);
    }
    const after = grade(student, [a1]);
    expect(after[0].passed).to.equal(after[0].total);
    expect(formatScores(after)).to.match(/full marks/);
  });

  it('npm run grade here: full marks on every assignment', () => {
    const scores = grade(ROOT);
    for (const s of scores) expect(s.passed, `assignment ${s.n}: ${s.firstFailure}`).to.equal(s.total);
    expect(formatScores(scores)).to.include(`11 of 11 assignments at full marks`);
  });

  it('bad input: a folder inside the repository, a folder that is not empty, an assignment that does not exist', () => {
    expect(() => writeStudentCopy(path.join(ROOT, 'runs', 'student-here'))).to.throw(/is inside this repository; give a folder outside it/);
    const full = tmp();
    fs.writeFileSync(path.join(full, 'x'), '');
    expect(() => writeStudentCopy(full)).to.throw(/exists and is not empty/);
    expect(() => writeStudentCopy(path.join(tmp(), 's'), { solved: [99] })).to.throw(/--solved 99: there is no assignment 99 \(they are 1-11\)/);
  });
});
