/**
 * Atomic file writes: a crash or an error in the middle of saving must never leave a
 * half-written checkpoint in place of a good one. The bytes go to a temporary file in the
 * same directory, are flushed to the disk (fsync), and only then is the file renamed over
 * the target; a rename within one directory replaces the target all at once.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Write the chunks to `file` atomically; on any error the old file (if any) is left untouched. */
export function writeFileAtomic(file: string, chunks: Iterable<Uint8Array>): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  let fd = fs.openSync(tmp, 'wx');
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  // Make the rename itself durable (not every platform can fsync a directory).
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // best effort
  }
}
