/** Base class: every Lifeboat error has a stable code that maps to an HTTP status or a delivery state. */
export class LifeboatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The deployment config is wrong. Lists every problem as `path: message`. */
export class ConfigError extends LifeboatError {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super('CONFIG_INVALID', `${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
}

/** An event, request or record failed validation at the edge. */
export class ValidationError extends LifeboatError {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super('VALIDATION_FAILED', `${what} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
}

/** A record or object that should exist does not. */
export class NotFoundError extends LifeboatError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

/** A conditional write lost: another worker changed the record first. */
export class ConflictError extends LifeboatError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('CONFLICT', `${what} was changed by another worker`, options);
  }
}
