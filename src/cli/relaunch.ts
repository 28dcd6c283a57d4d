/**
 * Relaunching Node with V8's garbage collector on the main thread (`--single-threaded-gc`).
 *
 * Why: by default V8 marks, sweeps and frees memory on background threads. A training step
 * allocates a few hundred megabytes of Float32Arrays, and on a 2-core machine those threads
 * take CPU time from the two compute threads (the main thread and its DataParallel worker):
 * measured with bench/train-step.ts, a unet-tiny step at batch 64 on both cores took 3.9-4.1 s
 * with the background collector and 2.9 s without it, while one thread alone runs at the same
 * speed either way (the collector's work moves onto it, and there is less of it).
 *
 * The flag cannot be switched on once V8 is running (setting it at run time crashes V8 at the
 * next collection), so the command line, the benchmarks and the training example start a
 * second Node with it and wait for it. TINY_DDPM_SINGLE_THREADED_GC=0 keeps the first process.
 */
import { spawn } from 'child_process';
import { hasSingleThreadedGc, SINGLE_THREADED_GC, singleThreadedGcOptedOut } from '../single-threaded-gc';

export { SINGLE_THREADED_GC };

/**
 * If this process runs without --single-threaded-gc (and TINY_DDPM_SINGLE_THREADED_GC is not
 * 0), start the same command in a Node that has it, forward its exit status (and a SIGTERM or
 * SIGHUP sent here), and return true: the caller must then do nothing more. A Ctrl-C reaches
 * both processes from the terminal; this one ignores it and waits for the child, which
 * handles it (the trainer saves and stops). Returns false when the current process is fine.
 */
export function relaunchWithSingleThreadedGc(): boolean {
  if (hasSingleThreadedGc() || singleThreadedGcOptedOut()) return false;
  const child = spawn(process.execPath, [SINGLE_THREADED_GC, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    // a child that cannot start relaunches nothing more
    env: { ...process.env, TINY_DDPM_SINGLE_THREADED_GC: '0' },
  });
  child.on('error', (err) => {
    process.stderr.write(`tiny-ddpm: could not start ${process.execPath} ${SINGLE_THREADED_GC}: ${err.message} (TINY_DDPM_SINGLE_THREADED_GC=0 runs without it)\n`);
    process.exit(1);
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal === 'SIGINT' ? 'SIGTERM' : signal);
    else process.exit(code ?? 1);
  });
  return true;
}
