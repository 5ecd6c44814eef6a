// Node's HTTP server drops a request whose body has not fully arrived `requestTimeout` after it began (408;
// app.ts sets 30 s, against clients that trickle a small body). An upload of an image legitimately takes longer:
// its own idle timeout (a body that sends nothing for IMPORT_IDLE_MS is dropped) replaces that deadline.
//
// Node has no per-request switch. Its periodic check (ConnectionsList.expired) hands back the HTTP parsers of
// the overdue requests and answers each through `parser.socket`; a parser whose `socket` is unset is dropped
// from the list and left alone. So for the duration of the body the link is cut, and restored when the body
// has been read (the parser needs it again for the next request on the connection).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

interface ParserLike { socket: Socket | null }

export function exemptFromRequestTimeout(raw: IncomingMessage): void {
  const socket = raw.socket as Socket & { parser?: ParserLike | null };
  const parser = socket?.parser;
  if (!parser || parser.socket !== socket || raw.complete) return;
  parser.socket = null;
  const restore = (): void => {
    if (parser.socket !== null) return;
    parser.socket = socket;
    // what the parser does at the end of a message with its socket: read on (the next request)
    const s = socket as Socket & { _paused?: boolean };
    if (!s.destroyed && !s._paused && s.readable) s.resume();
  };
  raw.once('end', restore);
  raw.once('close', restore);
}
