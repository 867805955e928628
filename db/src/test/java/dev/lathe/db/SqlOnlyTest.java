package dev.lathe.db;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The db module ships SQL and nothing else: no code may grow beside the schema. */
class SqlOnlyTest {

  @Test
  void theModuleShipsOnlySqlFiles() throws IOException {
    Path classes = Path.of("target/classes");
    List<Path> files;
    try (Stream<Path> walk = Files.walk(classes)) {
      files = walk.filter(Files::isRegularFile).toList();
    }
    assertThat(files).isNotEmpty();
    assertThat(files).allSatisfy(f -> assertThat(f.toString()).endsWith(".sql"));
  }
}
