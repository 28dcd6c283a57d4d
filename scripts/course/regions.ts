/**
 * Solution regions: the lines between `// BEGIN SOLUTION <n>` and `// END SOLUTION <n>`
 * (markers on lines of their own). A student copy replaces each region, markers included,
 * with one line `throw new Error('TODO: assignment <n>');` at the marker's indentation, so
 * the file still compiles and the function fails loudly until it is written.
 */
export interface Region {
  n: number;
  /** 0-based line of the BEGIN marker and of the END marker */
  begin: number;
  end: number;
  indent: string;
}

const BEGIN = /^(\s*)\/\/ BEGIN SOLUTION (\d+)\s*$/;
const END = /^(\s*)\/\/ END SOLUTION (\d+)\s*$/;

/** The regions of one file's text; a marker without its partner, or nested regions, are errors naming the file and line. */
export function findRegions(text: string, file = '<text>'): Region[] {
  const lines = text.split('\n');
  const regions: Region[] = [];
  let open: { n: number; line: number; indent: string } | null = null;
  lines.forEach((line, i) => {
    const b = BEGIN.exec(line);
    const e = END.exec(line);
    if (b) {
      if (open) throw new Error(`${file}:${i + 1}: BEGIN SOLUTION ${b[2]} inside SOLUTION ${open.n} (opened at line ${open.line + 1})`);
      open = { n: Number(b[2]), line: i, indent: b[1] };
    } else if (e) {
      if (!open) throw new Error(`${file}:${i + 1}: END SOLUTION ${e[2]} without a BEGIN`);
      if (Number(e[2]) !== open.n) throw new Error(`${file}:${i + 1}: END SOLUTION ${e[2]} closes SOLUTION ${open.n} (opened at line ${open.line + 1})`);
      regions.push({ n: open.n, begin: open.line, end: i, indent: open.indent });
      open = null;
    }
  });
  if (open) throw new Error(`${file}: SOLUTION ${(open as { n: number }).n} opened at line ${(open as { line: number }).line + 1} is never closed`);
  return regions;
}

/** The text with every region whose number is not in `keep` replaced by its TODO line. */
export function stripSolutions(text: string, keep: ReadonlySet<number> = new Set(), file = '<text>'): { text: string; stripped: number[] } {
  const regions = findRegions(text, file);
  if (regions.length === 0) return { text, stripped: [] };
  const lines = text.split('\n');
  const out: string[] = [];
  const stripped: number[] = [];
  let next = 0;
  for (const r of regions) {
    if (keep.has(r.n)) continue;
    out.push(...lines.slice(next, r.begin), `${r.indent}throw new Error('TODO: assignment ${r.n}');`);
    next = r.end + 1;
    stripped.push(r.n);
  }
  out.push(...lines.slice(next));
  return { text: out.join('\n'), stripped };
}
