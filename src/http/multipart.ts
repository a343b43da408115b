import { WasmletError } from "../core/index.js";

/**
 * The parts of a `multipart/form-data` body (RFC 7578) by their field names, each a view of `body` (no copy).
 * Only what a form needs: a `Content-Disposition: form-data; name="…"` per part; other part headers are ignored.
 * A hand-written split on the boundary, because it is one `indexOf` per part: undici's `Response.formData()`
 * took 185-390 ms of the request thread for a 30 MB module here. `delimiters`: the positions of every delimiter
 * (multipartDelimiter) in `body`, in order, when they were found as it arrived (readSharedBodyFinding); then
 * nothing is searched. Fails (INVALID_ARGUMENT) naming what is wrong.
 */
export function parseMultipart(
  body: Uint8Array,
  contentType: string,
  delimiters?: readonly number[],
): Map<string, Uint8Array> {
  const boundary = multipartBoundary(contentType);
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = multipartDelimiter(boundary);
  // The next delimiter at or after `from`: from the positions found as the body arrived, else by a search.
  let k = 0;
  const nextDelimiter = (from: number): number => {
    if (!delimiters) return buf.indexOf(delimiter, from);
    while (k < delimiters.length && delimiters[k] < from) k++;
    return k < delimiters.length ? delimiters[k] : -1;
  };
  const parts = new Map<string, Uint8Array>();
  // The first delimiter may open the body without the CRLF before it.
  const first = Buffer.from(`--${boundary}`);
  let pos = buf.subarray(0, first.length).equals(first) ? first.length : nextDelimiter(0);
  if (pos < 0) throw malformed("no boundary line");
  if (pos !== first.length) pos += delimiter.length;
  for (;;) {
    const head = partHead(buf, pos);
    if (!head) return parts;
    const { name, contentStart } = head;
    const next = nextDelimiter(contentStart);
    if (next < 0) throw malformed(`part "${name}" is not closed by the boundary`);
    if (parts.has(name)) throw new WasmletError("INVALID_ARGUMENT", `body: part "${name}" is given twice`);
    parts.set(name, body.subarray(contentStart, next));
    pos = next + delimiter.length;
  }
}

/**
 * What follows a delimiter that ends at `pos` of `buf`: undefined when it is the last one ("--"), else the next
 * part's name and where its content starts. Throws (INVALID_ARGUMENT) naming what is malformed, or missing when
 * `buf` ends before the blank line after the part's headers.
 */
export function partHead(buf: Buffer, pos: number): { name: string; contentStart: number } | undefined {
  if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) return undefined;
  const headersStart = buf.indexOf("\r\n", pos) + 2;
  if (headersStart < 2) throw malformed("a boundary line without its CRLF");
  const headersEnd = buf.indexOf("\r\n\r\n", headersStart - 2);
  if (headersEnd < 0) throw malformed("a part without the blank line after its headers");
  const headers = buf.toString("latin1", headersStart, headersEnd);
  const name = /^content-disposition:\s*form-data;(?:[^\r\n]*?;)?\s*name="([^"]*)"/im.exec(headers)?.[1];
  if (name === undefined) throw malformed('a part without Content-Disposition: form-data; name="…"');
  return { name, contentStart: headersEnd + 4 };
}

/** The boundary a multipart Content-Type names; INVALID_ARGUMENT when it names none of 1-70 characters. */
export function multipartBoundary(contentType: string): string {
  const m = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary || boundary.length > 70)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "body: a multipart/form-data body needs a boundary of 1-70 characters",
    );
  return boundary;
}

/** What separates the parts of a multipart body with this boundary (CRLF, "--", the boundary). */
export function multipartDelimiter(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}`);
}

function malformed(what: string): WasmletError {
  return new WasmletError("INVALID_ARGUMENT", `body: malformed multipart/form-data: ${what}`);
}
