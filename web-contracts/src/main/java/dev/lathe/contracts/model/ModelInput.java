package dev.lathe.contracts.model;

import dev.lathe.contracts.Wire;
import java.util.ArrayList;
import java.util.List;

/** A model's input: a list of chunks. Lathe serves text models, so only token chunks run. */
@Wire
public record ModelInput(List<ModelInputChunk> chunks) {

  public ModelInput {
    chunks = chunks == null ? List.of() : chunks;
  }

  public static ModelInput ofTokens(int... tokens) {
    return new ModelInput(List.of(new ModelInputChunk.EncodedText(tokens)));
  }

  /** Total number of positions, as the SDK counts them. */
  public int length() {
    int n = 0;
    for (ModelInputChunk c : chunks) {
      n += c.length();
    }
    return n;
  }

  /**
   * All tokens in order.
   *
   * @throws IllegalArgumentException if a chunk is not text
   */
  public int[] tokens() {
    List<int[]> parts = new ArrayList<>(chunks.size());
    int n = 0;
    for (int i = 0; i < chunks.size(); i++) {
      if (!(chunks.get(i) instanceof ModelInputChunk.EncodedText text)) {
        throw new IllegalArgumentException(
            "chunks[" + i + "]: chunk type '" + chunks.get(i).type() + "' is not supported");
      }
      parts.add(text.tokens());
      n += text.tokens().length;
    }
    int[] out = new int[n];
    int at = 0;
    for (int[] p : parts) {
      System.arraycopy(p, 0, out, at, p.length);
      at += p.length;
    }
    return out;
  }
}
