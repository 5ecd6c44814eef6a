// Request bodies: JSON only (application/json or any +json type, with any parameters such as
// `charset=utf-8`, in any case); an empty body is "no body" (curl -X DELETE -H 'content-type: application/json'
// is common). A charset other than UTF-8 is refused with 415; anything else that is not JSON too.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { invalidField } from '../validation.js';

/** The media type of a Content-Type header, lower-cased, without parameters. */
const mediaType = (header: string): string => header.split(';')[0]!.trim().toLowerCase();
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/;

async function jsonBody(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers();
  // a function matcher: Fastify normalises parameters (`charset="utf-8"`), which an anchored regex refuses
  app.addContentTypeParser(
    // Fastify accepts a RegExp or string list; a RegExp that tests only the media type part is enough
    /^\s*application\/([\w.-]+\+)?json\s*(;.*)?$/i,
    { parseAs: 'string' },
    (req, body, done) => {
      const header = String(req.headers['content-type'] ?? '');
      if (!JSON_TYPE.test(mediaType(header))) {
        return done(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.'), undefined);
      }
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(header)?.[1]?.toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        return done(new ApiError('UNSUPPORTED_MEDIA_TYPE', `Send JSON in UTF-8 (charset=${charset} is not supported).`), undefined);
      }
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(invalidField('body', '', 'is not valid JSON'), undefined);
      }
    },
  );
  // Any other type: an empty body is "no body" (curl -X DELETE -d '' sends a form type with nothing in it);
  // a body that is not JSON is 415.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    done(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.'), undefined);
  });
}

export const jsonBodyPlugin = fp(jsonBody, { name: 'rbd-json-body', fastify: '5.x' });
