const REDACTED = "[REDACTED]";

/**
 * A value that must not leak: it prints as [REDACTED] in logs, JSON, string
 * interpolation and util.inspect. Only `reveal()` gives the value back, and
 * only the code that hands it to its final consumer should call it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}
