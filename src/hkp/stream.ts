/**
 * Answers written piece by piece: certificates armored in slices (the same text as
 * src/openpgp/armor.ts `armor`, one block for all of them, as SKS answers), each slice written
 * with the socket's backpressure respected and the event loop let go in between, so a big
 * certificate or a slow reader never holds up other clients.
 */
import type { ServerResponse } from 'node:http';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { armor, crc24 } from '../openpgp/armor.js';
import { type Headers, head } from './respond.js';

/** Bytes per slice: a multiple of 48, so each slice is whole 64-character base64 lines. */
const SLICE = 48 * 1024;

/** Writes `chunk`; waits for the socket to drain when its buffer is full. False when the client went away. */
export async function writeChunk(res: ServerResponse, chunk: string | Buffer): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  if (res.write(chunk)) return true;
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function lines(b64: string): string {
  let out = '';
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return out;
}

const total = (parts: readonly Buffer[]) => parts.reduce((n, p) => n + p.length, 0);

/**
 * Answers 200 with `parts` (binary certificates) as one armored PUBLIC KEY BLOCK: in one write
 * with a Content-Length when small, else streamed in slices.
 * @returns false when the client went away before the end.
 */
export async function sendArmored(res: ServerResponse, headers: Headers, parts: readonly Buffer[]): Promise<boolean> {
  if (total(parts) <= SLICE) {
    // Armor is ASCII: its length is its size, and a string is written with the head in one go.
    const text = armor('PUBLIC KEY BLOCK', parts.length === 1 ? parts[0] : Buffer.concat(parts));
    head(res, 200, headers, { 'content-length': text.length });
    res.end(text, 'latin1');
    return true;
  }
  head(res, 200, headers);
  return streamArmored(res, parts);
}

/** Answers 200 with `parts` concatenated: in one write when small, else streamed in slices. */
export async function sendBinary(res: ServerResponse, headers: Headers, parts: readonly Buffer[]): Promise<boolean> {
  if (total(parts) <= SLICE) {
    const body = Buffer.concat(parts);
    head(res, 200, headers, { 'content-length': body.length });
    res.end(body);
    return true;
  }
  head(res, 200, headers);
  return streamBinary(res, parts);
}

/**
 * Streams `parts` (binary certificates) as one armored PUBLIC KEY BLOCK, then ends the response
 * (whose head is written).
 * @returns false when the client went away before the end.
 */
export async function streamArmored(res: ServerResponse, parts: readonly Buffer[]): Promise<boolean> {
  if (!(await writeChunk(res, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n'))) return false;
  let crc: number | undefined;
  let carry = Buffer.alloc(0);
  for (const part of parts) {
    for (let off = 0; off < part.length; off += SLICE) {
      const piece = part.subarray(off, off + SLICE);
      crc = crc24(piece, crc);
      const data = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
      const whole = data.length - (data.length % 48);
      carry = Buffer.from(data.subarray(whole));
      if (whole > 0 && !(await writeChunk(res, lines(data.subarray(0, whole).toString('base64'))))) return false;
      await yieldLoop();
    }
  }
  const sum = Buffer.alloc(3);
  sum.writeUIntBE(crc ?? crc24(Buffer.alloc(0)), 0, 3);
  if (!(await writeChunk(res, `${lines(carry.toString('base64'))}=${sum.toString('base64')}\n-----END PGP PUBLIC KEY BLOCK-----\n`))) return false;
  res.end();
  return true;
}

/** Streams binary parts, then ends the response (whose head is written). */
export async function streamBinary(res: ServerResponse, parts: readonly Buffer[]): Promise<boolean> {
  for (const part of parts) {
    for (let off = 0; off < part.length; off += SLICE) {
      if (!(await writeChunk(res, part.subarray(off, off + SLICE)))) return false;
      await yieldLoop();
    }
  }
  res.end();
  return true;
}
