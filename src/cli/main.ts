#!/usr/bin/env node
/** The tiny-ddpm command line. Commands are filled in as the library grows. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('tiny-ddpm')
    .usage('$0 <command> [options]')
    .demandCommand(1, 'Name a command; see --help.')
    .strict()
    .help();
}

if (require.main === module) {
  buildCli(hideBin(process.argv)).parse();
}
