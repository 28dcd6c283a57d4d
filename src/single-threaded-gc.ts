/**
 * Whether this Node runs V8's garbage collector on the main thread (`--single-threaded-gc`),
 * and the one warning the library gives when it starts a second compute thread without it.
 *
 * By default V8 marks, sweeps and frees memory on background threads. With two compute
 * threads on two cores (DataParallel's worker, or webasm kernels split over a helper thread)
 * those background threads take CPU time from them: measured with bench/train-step.ts, a
 * unet-tiny training step at batch 64 on 2 cores took 3.9-4.1 s with the background collector
 * and 2.9 s without it. The flag cannot be switched on once V8 runs, so the library can only
 * say so; the tiny-ddpm command restarts itself with it (src/cli/relaunch.ts).
 * TINY_DDPM_SINGLE_THREADED_GC=0 is the user's "I know": no restart and no warning.
 */

export const SINGLE_THREADED_GC = '--single-threaded-gc';

/**
 * Whether `execArgv` (default: this process's) turns the background collector off:
 * --single-threaded-gc, or --single-threaded, which implies it; V8 also spells them with
 * underscores and takes --no-... to undo them. The last one given wins, as in V8.
 */
export function hasSingleThreadedGc(execArgv: readonly string[] = process.execArgv): boolean {
  let on = false;
  for (const arg of execArgv) {
    const flag = arg.replace(/_/g, '-');
    if (flag === '--single-threaded-gc' || flag === '--single-threaded') on = true;
    else if (flag === '--no-single-threaded-gc' || flag === '--nosingle-threaded-gc') on = false;
    // --no-single-threaded leaves an explicit --single-threaded-gc on; alone it changes nothing
  }
  return on;
}

/** TINY_DDPM_SINGLE_THREADED_GC=0: run as started, without a restart or a warning. */
export function singleThreadedGcOptedOut(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TINY_DDPM_SINGLE_THREADED_GC === '0';
}

let warned = false;

/**
 * Called where the library starts a second compute thread (`what` says which); writes one line
 * to stderr, once per process, if the process runs without --single-threaded-gc and the user
 * has not opted out.
 */
export function warnWithoutSingleThreadedGc(what: string): void {
  if (warned || hasSingleThreadedGc() || singleThreadedGcOptedOut()) return;
  warned = true;
  process.stderr.write(
    `tiny-ddpm: warning: ${what} in a Node started without ${SINGLE_THREADED_GC}: V8's background garbage collector then takes CPU time ` +
      `from the compute threads (a unet-tiny training step on 2 cores: 3.9-4.1 s instead of 2.9 s); run node ${SINGLE_THREADED_GC}, ` +
      `or the tiny-ddpm command, which restarts itself with it (TINY_DDPM_SINGLE_THREADED_GC=0 silences this)\n`,
  );
}
