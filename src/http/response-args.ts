import type { OutgoingHttpHeaders } from 'node:http';

/** What Node's `ServerResponse` methods are given, read the way Node reads it. */

/**
 * Whether Node's `end(chunk, encoding)` throws for this chunk rather than send it: a truthy chunk
 * that is neither a string nor a Uint8Array, or a string in an encoding Node does not know.
 */
export function refusedChunk(chunk: unknown, encoding: unknown): boolean {
  if (!chunk || typeof chunk === 'function') return false;
  if (typeof chunk === 'string') {
    return typeof encoding === 'string' && !Buffer.isEncoding(encoding);
  }
  return !(chunk instanceof Uint8Array);
}

/** The headers given to `writeHead()`, as an object or a flat list, by lower-case name. */
export function toHeaderRecord(headers: object): OutgoingHttpHeaders {
  if (Array.isArray(headers)) {
    // writeHead also takes a flat [name, value, name, value] list.
    const record: OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < headers.length; i += 2)
      record[String(headers[i]).toLowerCase()] = headers[i + 1] as string;
    return record;
  }
  const record: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) record[name.toLowerCase()] = value as string;
  return record;
}
