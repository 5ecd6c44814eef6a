// The error the helpers throw (pages, waitForTask): the answer's status and its problem document.
import type { components } from './schema.js';

type Problem = components['schemas']['Problem'];

/** A non-2xx answer met by a helper: `status`, and `problem` (the API's problem+json, when it sent one). */
export class RbdApiError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;
  readonly code: string | undefined;

  constructor(status: number, problem: Problem | undefined, what: string) {
    super(`${what}: ${status}${problem ? ` ${problem.code}: ${problem.detail}` : ''}`);
    this.name = 'RbdApiError';
    this.status = status;
    this.problem = problem;
    this.code = problem?.code;
  }
}

/** The problem document of an answer, when it is one (the body is read). */
export async function problemOf(response: Response): Promise<Problem | undefined> {
  if (!/json/i.test(response.headers.get('content-type') ?? '')) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  try {
    const body = (await response.json()) as Partial<Problem>;
    return typeof body.code === 'string' ? (body as Problem) : undefined;
  } catch {
    return undefined;
  }
}
