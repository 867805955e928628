package dev.lathe.worker.runtime;

import java.io.IOException;
import java.nio.file.FileSystemException;

/**
 * The adapter store refused a write (full, read-only, failing): the request fails with the reason
 * and without the store's paths, and what was saved before stays as it was.
 */
final class StorageError extends RuntimeException {

  StorageError(IOException cause) {
    super(
        "the adapter store cannot be written ("
            + reason(cause)
            + "); checkpoints saved before are unchanged",
        cause);
  }

  private static String reason(IOException e) {
    if (e instanceof FileSystemException f) {
      return f.getReason() == null ? "I/O error" : f.getReason(); // its message holds the path
    }
    return e.getMessage() == null ? "I/O error" : e.getMessage(); // the system's, e.g. ENOSPC
  }
}
