/**
 * Keeps the `--help` texts quoted in the docs true: every fenced block in docs/ that starts
 * with the line `tiny-ddpm <command>` is the help of that command, as the CLI prints it
 * (80 columns). test/docs.test.ts fails when one is stale; this script rewrites them:
 *
 *   npx ts-node --transpile-only scripts/docs-help.ts
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildCli } from '../src/cli/main';

export const DOCS_DIR = path.join(__dirname, '..', 'docs');

/** What `tiny-ddpm <command> --help` prints. */
export function helpText(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    buildCli([])
      .wrap(80)
      .exitProcess(false)
      .parse([command, '--help'], {}, (err: Error | undefined, _argv: unknown, output: string) => (err ? reject(err) : resolve(output.trimEnd())));
  });
}

export interface HelpBlock {
  file: string;
  command: string;
  /** the block's text as the docs have it */
  text: string;
  /** where the text starts and ends in the file */
  start: number;
  end: number;
}

/** The fenced blocks of a markdown file that quote a command's help. */
export function helpBlocks(file: string): HelpBlock[] {
  const src = fs.readFileSync(file, 'utf8');
  const blocks: HelpBlock[] = [];
  // the block's text never crosses a fence, so a block holding only its first line is found too
  const fence = /```\n(tiny-ddpm ([a-z][a-z-]*)(?:\n(?:(?!```)[\s\S])*?)?)\n```/g;
  for (let m; (m = fence.exec(src)); ) {
    const start = m.index + 4;
    blocks.push({ file, command: m[2], text: m[1], start, end: start + m[1].length });
  }
  return blocks;
}

export function markdownFiles(dir = DOCS_DIR): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.md')).map((f) => path.join(dir, f));
}

async function rewrite(): Promise<void> {
  for (const file of markdownFiles()) {
    let src = fs.readFileSync(file, 'utf8');
    // from the last block back, so earlier offsets stay valid
    for (const b of helpBlocks(file).reverse()) src = src.slice(0, b.start) + (await helpText(b.command)) + src.slice(b.end);
    fs.writeFileSync(file, src);
  }
}

if (require.main === module) rewrite().catch((e) => { console.error(e); process.exitCode = 1; });
