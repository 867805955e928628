package dev.lathe.worker.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Atomic directory replacement, and what a crash in the middle of one leaves readable. */
class TreesTest {

  @TempDir Path root;

  private Path version(Path dir, String text) throws IOException {
    Path tmp = Trees.staging(dir);
    Files.writeString(tmp.resolve("a.txt"), text);
    Files.writeString(tmp.resolve("b.txt"), text + "!");
    return tmp;
  }

  private List<String> names() throws IOException {
    try (Stream<Path> files = Files.list(root)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void replaceSwapsWholeDirectoriesAndLeavesNothingAside() throws IOException {
    Path dir = root.resolve("live");
    Trees.replace(version(dir, "one"), dir);
    assertThat(dir.resolve("a.txt")).hasContent("one");
    Trees.replace(version(dir, "two"), dir);
    assertThat(dir.resolve("a.txt")).hasContent("two");
    assertThat(dir.resolve("b.txt")).hasContent("two!");
    assertThat(names()).containsExactly("live");
    assertThat(Trees.current(dir)).contains(dir);
  }

  @Test
  void aReplaceCutShortBetweenItsRenamesLeavesThePreviousVersionReadable() throws IOException {
    Path dir = root.resolve("live");
    Trees.replace(version(dir, "one"), dir);
    Path next = version(dir, "two");
    // The crash: the old version renamed aside, the new one not yet in place.
    Path aside = root.resolve("~live.old-123");
    Files.move(dir, aside);
    assertThat(dir).doesNotExist();

    assertThat(Trees.current(dir)).contains(aside);
    assertThat(Trees.current(dir).orElseThrow().resolve("a.txt")).hasContent("one");

    // The next write puts a whole version in place and clears what the crash left aside, but
    // not a staging directory that may be another writer's, until it is stale.
    Trees.replace(version(dir, "three"), dir);
    assertThat(dir.resolve("a.txt")).hasContent("three");
    assertThat(names()).containsExactlyInAnyOrder("live", next.getFileName().toString());
    Files.setLastModifiedTime(next, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    Trees.replace(version(dir, "four"), dir);
    assertThat(names()).containsExactly("live");
  }

  @Test
  void siblingsThatMerelyLookAlikeAreNeverTouched() throws IOException {
    Path dir = root.resolve("ckpt");
    Path lookalike = Files.createDirectories(root.resolve("ckpt.old-1")); // a checkpoint's name
    Path other = Files.createDirectories(root.resolve("~ckpt2.old-1")); // another directory's
    Trees.replace(version(dir, "one"), dir);
    Trees.replace(version(dir, "two"), dir);
    Trees.discard(dir);
    assertThat(lookalike).isDirectory();
    assertThat(other).isDirectory();
    assertThat(names()).containsExactlyInAnyOrder("ckpt.old-1", "~ckpt2.old-1");
  }

  @Test
  void discardRemovesTheDirectoryAndWhatACrashLeftOfIt() throws IOException {
    Path dir = root.resolve("ckpt");
    Trees.replace(version(dir, "one"), dir);
    Files.move(dir, root.resolve("~ckpt.old-9"));
    version(dir, "two");
    Trees.discard(dir);
    assertThat(names()).isEmpty();
    assertThat(Trees.current(dir)).isEmpty();
  }
}
