package dev.lathe.worker.model.llama;

import static dev.lathe.worker.Arrays2.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LlamaForwardTest extends WithTinyModel {

  static long[] randomTokens(Random rng, int n) {
    long[] t = new long[n];
    for (int i = 0; i < n; i++) {
      t[i] = rng.nextInt(256);
    }
    return t;
  }

  @Test
  void aFreshAdapterIsTheBaseModel() {
    try (NDScope scope = new NDScope();
        LoraAdapter adapter =
            LoraAdapter.create(base.config(), LoraSpec.of(8, 7), manager, DataType.FLOAT32)) {
      scope.suppressNotUsedWarning();
      NDArray tokens = manager.create(new long[][] {randomTokens(new Random(1), 16)});
      NDArray plain = base.llama().forward(tokens, null, LoraHook.NONE, null);
      NDArray adapted = base.llama().forward(tokens, null, adapter.hook(), null);
      assertThat(maxAbsDiff(plain, adapted)).isZero();
      // A is not zero, so a non-zero B would change the output: the check can fail.
      adapter.pairs().values().iterator().next().b().addi(0.1f);
      NDArray moved = base.llama().forward(tokens, null, adapter.hook(), null);
      assertThat(maxAbsDiff(plain, moved)).isGreaterThan(1e-4);
    }
  }

  @Test
  void aPaddedBatchEqualsEachSequenceAlone() {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Random rng = new Random(2);
      int[] lengths = {9, 4, 13};
      int t = 13;
      long[][] padded = new long[lengths.length][t];
      long[][] rows = new long[lengths.length][];
      for (int r = 0; r < lengths.length; r++) {
        rows[r] = randomTokens(rng, lengths[r]);
        System.arraycopy(rows[r], 0, padded[r], 0, lengths[r]);
        for (int i = lengths[r]; i < t; i++) {
          padded[r][i] = 200 + r; // garbage that the mask must hide
        }
      }
      NDArray batch = base.llama().forward(manager.create(padded), lengths, LoraHook.NONE, null);
      for (int r = 0; r < lengths.length; r++) {
        NDArray alone =
            base.llama().forward(manager.create(new long[][] {rows[r]}), null, LoraHook.NONE, null);
        NDArray inBatch = batch.get(new NDIndex("{}:{}, :{}", r, r + 1, lengths[r]));
        assertThat(maxAbsDiff(alone, inBatch)).as("row " + r).isLessThan(1e-5);
      }
    }
  }

  @Test
  void cachedDecodingEqualsFullRecompute() {
    try (NDScope scope = new NDScope();
        KvCache cache = new KvCache(base.config(), manager, DataType.FLOAT32, 1, 32)) {
      scope.suppressNotUsedWarning();
      long[] all = randomTokens(new Random(3), 20);
      int prompt = 8;
      long[] head = java.util.Arrays.copyOf(all, prompt);
      NDArray prefill =
          base.llama().forward(manager.create(new long[][] {head}), null, LoraHook.NONE, cache);
      NDArray full =
          base.llama().forward(manager.create(new long[][] {all}), null, LoraHook.NONE, null);
      assertThat(maxAbsDiff(prefill, full.get(new NDIndex(":, :{}", prompt)))).isLessThan(1e-5);
      for (int i = prompt; i < all.length; i++) {
        NDArray step =
            base.llama()
                .forward(manager.create(new long[][] {{all[i]}}), null, LoraHook.NONE, cache);
        NDArray expected = full.get(new NDIndex(":, {}:{}", i, i + 1));
        assertThat(maxAbsDiff(step, expected)).as("position " + i).isLessThan(1e-5);
      }
      assertThat(cache.length()).isEqualTo(all.length);
    }
  }

  @Test
  void repeatedCacheRowsDecodeLikeTheirPrompt() {
    try (NDScope scope = new NDScope();
        KvCache cache = new KvCache(base.config(), manager, DataType.FLOAT32, 1, 16)) {
      scope.suppressNotUsedWarning();
      long[] prompt = randomTokens(new Random(4), 6);
      base.llama().forward(manager.create(new long[][] {prompt}), null, LoraHook.NONE, cache);
      cache.repeatRows(3);
      NDArray next =
          base.llama()
              .forward(manager.create(new long[][] {{5}, {6}, {7}}), null, LoraHook.NONE, cache);
      for (int r = 0; r < 3; r++) {
        long[] seq = java.util.Arrays.copyOf(prompt, 7);
        seq[6] = 5 + r;
        NDArray full =
            base.llama().forward(manager.create(new long[][] {seq}), null, LoraHook.NONE, null);
        assertThat(
                maxAbsDiff(
                    next.get(new NDIndex("{}:{}", r, r + 1)), full.get(new NDIndex(":, 6:7"))))
            .isLessThan(1e-5);
      }
    }
  }
}
