/**
 * Reading an upload form's body: bounded in size before anything is parsed, then either
 * `application/x-www-form-urlencoded` or `multipart/form-data` (RFC 7578) into named fields.
 * Only what the upload form sends is understood; anything else is a bad request.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Why a form body was refused, with the status the page answers: the web handler catches it
 * and renders it, so it never leaves src/hkp/web/.
 */
export class FormError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'FormError';
  }
}

/**
 * The request body, at most `max` bytes.
 * @throws FormError (413) when it is longer, by its Content-Length or as it arrives.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = () => new FormError(`the upload is larger than ${max} bytes`, 413);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** A form field: its bytes, and the file name when it was a file. */
export interface FormField {
  value: Buffer;
  filename?: string;
}

/** Most parts a multipart body may have (the form has two fields). */
const MAX_PARTS = 16;

function parameter(header: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/**
 * Splits a `multipart/form-data` body into fields (the first of each name counts).
 * @throws FormError (400) when the body does not follow the boundary it declares.
 */
export function parseMultipart(body: Buffer, boundary: string): Map<string, FormField> {
  const bad = (why: string) => new FormError(`malformed multipart form: ${why}`, 400);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const fields = new Map<string, FormField>();
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw bad('no boundary');
  for (let parts = 0; ; parts++) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') return fields;
    if (parts >= MAX_PARTS) throw bad(`more than ${MAX_PARTS} parts`);
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') throw bad('no line break after a boundary');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    if (headerEnd < 0) throw bad('a part has no end of headers');
    const headers = body.subarray(pos, headerEnd).toString('utf8').split('\r\n');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n', 'latin1'), delimiter]), headerEnd + 4);
    if (next < 0) throw bad('a part has no closing boundary');
    const disposition = headers.find((h) => /^content-disposition\s*:/i.test(h));
    const name = disposition ? parameter(disposition.slice(disposition.indexOf(':') + 1), 'name') : undefined;
    if (name !== undefined && !fields.has(name)) {
      fields.set(name, { value: body.subarray(headerEnd + 4, next), filename: disposition ? parameter(disposition.slice(disposition.indexOf(':') + 1), 'filename') : undefined });
    }
    pos = next + 2;
  }
}

/** Splits an `application/x-www-form-urlencoded` body into fields (the first of each name counts). */
export function parseUrlEncoded(body: Buffer): Map<string, FormField> {
  const fields = new Map<string, FormField>();
  for (const [k, v] of new URLSearchParams(body.toString('latin1'))) {
    // Form-encoded bodies are ASCII, and keys in them armored: %XX decodes as UTF-8, as browsers encode.
    if (!fields.has(k)) fields.set(k, { value: Buffer.from(v, 'utf8') });
  }
  return fields;
}

/**
 * The fields of a form body, by its Content-Type.
 * @throws FormError (400 malformed, 415 another media type)
 */
export function parseForm(contentType: string | undefined, body: Buffer): Map<string, FormField> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return parseUrlEncoded(body);
  if (type === 'multipart/form-data') {
    const boundary = parameter(contentType!.slice(contentType!.indexOf(';') + 1), 'boundary');
    if (!boundary || boundary.length > 200) throw new FormError('malformed multipart form: no boundary', 400);
    return parseMultipart(body, boundary);
  }
  throw new FormError(`send the form as multipart/form-data or application/x-www-form-urlencoded, not ${JSON.stringify(type || 'nothing')}`, 415);
}
