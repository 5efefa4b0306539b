/**
 * Atomic file replacement: write a temporary file beside the target, fsync it, and
 * rename it into place only if the content changed, so readers (sshd, ssh) see either
 * the old file or the new one, never a partial or empty one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, chownSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EnvironmentError } from '../errors.js';

export interface AtomicWriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Whether the file at `path` already holds exactly `content`. */
function unchanged(path: string, content: Buffer): boolean {
  try {
    return readFileSync(path).equals(content);
  } catch {
    return false;
  }
}

/**
 * Replaces `path` with `content` atomically. Returns false when the file already had
 * this content (nothing written).
 * @throws EnvironmentError (MS_FILE_WRITE) when the file cannot be written; the old file stays.
 */
export function writeFileAtomic(path: string, content: string | Buffer, opts: AtomicWriteOptions = {}): boolean {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  if (unchanged(path, data)) {
    if (opts.mode !== undefined) chmodSync(path, opts.mode);
    if (opts.uid !== undefined || opts.gid !== undefined) chownSync(path, opts.uid ?? -1, opts.gid ?? -1);
    return false;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
    if (opts.uid !== undefined || opts.gid !== undefined) chownSync(tmp, opts.uid ?? -1, opts.gid ?? -1);
    renameSync(tmp, path);
    return true;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new EnvironmentError('MS_FILE_WRITE', `cannot write ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
  }
}
