// Pagination cursors: the last name of the previous page, base64url-encoded. Listing resumes after it
// in byte order, so pages never repeat or skip an image that exists throughout the listing.
export function encodeCursor(lastName: string): string {
  return Buffer.from(`v1:${lastName}`, 'utf8').toString('base64url');
}

/** The name to resume after, or undefined when the cursor is not one of ours. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('v1:') || text.length < 4) return undefined;
  if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) return undefined;
  return text.slice(3);
}
