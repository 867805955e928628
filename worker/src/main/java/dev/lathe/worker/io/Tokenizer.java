package dev.lathe.worker.io;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A model's {@code tokenizer.json}, through the Hugging Face tokenizers library. */
public final class Tokenizer implements AutoCloseable {

  private final HuggingFaceTokenizer tokenizer;

  private Tokenizer(HuggingFaceTokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  /**
   * @throws IllegalArgumentException naming the file if it is missing or unreadable
   */
  public static Tokenizer load(Path modelDir) {
    Path file = modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": file is missing");
    }
    try {
      return new Tokenizer(
          HuggingFaceTokenizer.newInstance(
              file,
              Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false")));
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot be read", e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          file + ": not a valid tokenizer (" + e.getMessage() + ")", e);
    }
  }

  /** Token ids of a text, without special tokens. */
  public int[] encode(String text) {
    Encoding e = tokenizer.encode(text, false, false);
    long[] ids = e.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /** The text of token ids, special tokens kept. */
  public String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return tokenizer.decode(l, false);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
