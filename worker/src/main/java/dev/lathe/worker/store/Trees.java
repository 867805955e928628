package dev.lathe.worker.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Directory trees of adapter and model files, and how one is replaced atomically.
 *
 * <p>A directory is written beside its final place ({@link #staging}), made durable, and swapped in
 * ({@link #replace}): the old one is renamed aside, the new one renamed into place, the old one
 * deleted. Readers never see a half-written directory. A crash between the two renames leaves only
 * the old one aside; {@link #current} finds it, so the previous version stays readable. The names
 * aside begin with {@code ~}, which no checkpoint name can, and are cleaned up by the next replace.
 */
public final class Trees {

  private static final String ASIDE = "~";
  private static final String OLD = ".old-";
  private static final String TMP = ".tmp-";

  /** How long a staging directory may sit before a later replace takes it for a crash's. */
  private static final Duration STALE = Duration.ofHours(1);

  private Trees() {}

  /** Deletes a directory and everything in it; nothing if it does not exist. */
  public static void delete(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** Deletes a directory written by {@link #replace} and whatever of it a crash left aside. */
  public static void discard(Path dir) throws IOException {
    delete(dir);
    for (Path aside : aside(dir)) {
      delete(aside);
    }
  }

  /** A new, empty directory beside {@code dir} to write its next version into. */
  public static Path staging(Path dir) throws IOException {
    Files.createDirectories(dir.getParent());
    return Files.createTempDirectory(dir.getParent(), ASIDE + dir.getFileName() + TMP);
  }

  /**
   * Makes {@code tmp} (from {@link #staging}) durable and puts it in {@code dir}'s place, which
   * holds either its previous version or this one whatever happens meanwhile.
   */
  public static void replace(Path tmp, Path dir) throws IOException {
    sync(tmp);
    Path old = null;
    if (Files.exists(dir)) {
      old = Files.createTempDirectory(dir.getParent(), ASIDE + dir.getFileName() + OLD);
      Files.delete(old);
      Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
    }
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    force(dir.getParent());
    for (Path aside : aside(dir)) {
      boolean leftOver = aside.getFileName().toString().contains(OLD) || stale(aside);
      if (aside.equals(old) || leftOver) {
        delete(aside);
      }
    }
  }

  /**
   * Where {@code dir}'s current version is: {@code dir} itself, or its previous version set aside
   * by a replace that a crash cut short; empty if neither exists.
   */
  public static Optional<Path> current(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return Optional.of(dir);
    }
    return aside(dir).stream()
        .filter(p -> p.getFileName().toString().contains(OLD))
        .max(Comparator.comparing(Trees::modified));
  }

  private static List<Path> aside(Path dir) throws IOException {
    if (!Files.isDirectory(dir.getParent())) {
      return List.of();
    }
    String prefix = ASIDE + dir.getFileName();
    try (Stream<Path> siblings = Files.list(dir.getParent())) {
      return siblings
          .filter(p -> p.getFileName().toString().startsWith(prefix))
          .filter(
              p ->
                  p.getFileName()
                      .toString()
                      .substring(prefix.length())
                      .matches("\\.(old|tmp)-\\d+"))
          .toList();
    }
  }

  private static boolean stale(Path p) {
    return modified(p).isBefore(Instant.now().minus(STALE));
  }

  private static Instant modified(Path p) {
    try {
      return Files.getLastModifiedTime(p).toInstant();
    } catch (IOException gone) {
      return Instant.MIN;
    }
  }

  /** Flushes every file of a directory, and the directory, to the device. */
  private static void sync(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        force(f);
      }
    }
    force(dir);
  }

  private static void force(Path p) throws IOException {
    try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
      c.force(true);
    }
  }
}
