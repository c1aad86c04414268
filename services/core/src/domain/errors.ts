// Errors that carry their HTTP meaning. One middleware in the web turns any of them into
// application/problem+json; handlers do not catch them.

/** `work`, with every error it throws shown to `observe` on its way out (rethrown unchanged). */
export const tapErrors =
  <A extends unknown[], R>(work: (...args: A) => Promise<R>, observe: (error: unknown) => void) =>
  async (...args: A): Promise<R> => {
    try {
      return await work(...args);
    } catch (error) {
      observe(error);
      throw error;
    }
  };

export class HeraldError extends Error {
  constructor(
    readonly status: number,
    /** Stable slug; the problem type is `urn:herald:problem:<slug>`. */
    readonly slug: string,
    readonly title: string,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    super(detail ?? title, options);
    this.name = new.target.name;
  }

  get type(): string {
    return `urn:herald:problem:${this.slug}`;
  }
}

export class BadRequestError extends HeraldError {
  constructor(detail: string) {
    super(400, "bad-request", "Bad request", detail);
  }
}
export class UnauthorizedError extends HeraldError {
  constructor(detail = "A valid bearer token is required.") {
    super(401, "unauthorized", "Unauthorized", detail);
  }
}
export class ForbiddenError extends HeraldError {
  constructor(detail: string) {
    super(403, "forbidden", "Forbidden", detail);
  }
}
export class NotFoundError extends HeraldError {
  constructor(detail: string) {
    super(404, "not-found", "Not found", detail);
  }
}
export class RequestTimeoutError extends HeraldError {
  constructor(detail: string) {
    super(408, "request-timeout", "Request timeout", detail);
  }
}
export class PayloadTooLargeError extends HeraldError {
  constructor(limit: number) {
    super(413, "payload-too-large", "Payload too large", `The file exceeds the limit of ${limit} bytes.`);
  }
}
export class UnsupportedMediaTypeError extends HeraldError {
  constructor(detail: string) {
    super(415, "unsupported-media-type", "Unsupported media type", detail);
  }
}
/** The request does not fit the current state of what it names. */
export class ConflictError extends HeraldError {
  constructor(detail: string) {
    super(409, "conflict", "Conflict", detail);
  }
}
/** The expected revision of a stream did not hold: someone else appended first. */
export class ConcurrencyError extends HeraldError {
  constructor(
    readonly stream: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(409, "concurrency", "Conflict", `Stream ${stream}: expected revision ${expected}, actual ${actual}.`);
  }
}
export class TooManyRequestsError extends HeraldError {
  constructor(
    detail: string,
    /** Sent as Retry-After. */
    readonly retryAfterSeconds: number,
  ) {
    super(429, "too-many-requests", "Too many requests", detail);
  }
}

/** A group's storage quota has no room for the file: the file is fine, the group is full. */
export class InsufficientStorageError extends HeraldError {
  constructor(detail: string) {
    super(507, "insufficient-storage", "Insufficient storage", detail);
  }
}

/** A backing service (event log, blob store) is not answering: nothing was recorded. */
export class UnavailableError extends HeraldError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(503, "unavailable", "Service unavailable", detail, options);
  }
}
