// The two services: the gateway (queue API, on this page's origin) and
// booking (at the URL the gateway puts in <meta name="booking-url">).
// Every error is an ApiError carrying the problem+json `code` (API.md,
// Errors), or `NETWORK` when no answer arrived.

export const BOOKING = (document.querySelector('meta[name="booking-url"]')?.content || '').replace(/\/+$/, '');

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? 'NETWORK' : `HTTP_${status}`);
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }

  /** Worth trying again with the same request (and Idempotency-Key). */
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.code === 'RATE_LIMITED'
      || this.code === 'IDEMPOTENCY_IN_PROGRESS';
  }
}

/** One JSON call; resolves to the answer's body (null for 204), throws ApiError. */
async function call(base, path, { method = 'GET', token, body, idempotencyKey } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, {});
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data || {}, response.headers.get('Retry-After'));
  return data;
}

export const gateway = (path, options) => call('', path, options);
export const booking = (path, options) => call(BOOKING, path, options);
