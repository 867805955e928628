package dev.lathe.worker.runtime;

/** A request the engine refuses because of its input: its future fails with category user. */
public final class UserError extends RuntimeException {

  public UserError(String message) {
    super(message);
  }
}
