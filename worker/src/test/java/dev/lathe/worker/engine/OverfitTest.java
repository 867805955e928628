package dev.lathe.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.optim.AdamW;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoRA alone can memorise four short sequences: the loss falls below 5% of its start. */
class OverfitTest {

  @Test
  void trainsOnAFreshThread() throws Exception {
    // PyTorch starts every new thread recording autograd; the engine must not depend on the
    // thread it runs on (the worker loop has its own).
    java.util.concurrent.atomic.AtomicReference<Throwable> failure =
        new java.util.concurrent.atomic.AtomicReference<>();
    Thread t =
        new Thread(
            () -> {
              try {
                crossEntropyOnFourSequencesFallsBelowFivePercentWithin100Steps();
              } catch (Throwable e) {
                failure.set(e);
              }
            });
    t.start();
    t.join();
    assertThat(failure.get()).isNull();
  }

  @Test
  void crossEntropyOnFourSequencesFallsBelowFivePercentWithin100Steps() {
    String[] texts = {"the cat sat", "on the mat.", "lathe trains", "many loras!"};
    List<ForwardBackward.Example> examples = new ArrayList<>();
    for (String t : texts) {
      byte[] b = t.getBytes(StandardCharsets.US_ASCII);
      int[] tokens = new int[b.length - 1];
      double[] targets = new double[b.length - 1];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = b[i];
        targets[i] = b[i + 1];
      }
      examples.add(new ForwardBackward.Example(tokens, Map.of("target_tokens", targets)));
    }
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = TinyModel.load(m, DataType.FLOAT32);
        LoraAdapter adapter =
            LoraAdapter.create(base.config(), LoraSpec.of(32, 0), m, DataType.FLOAT32)) {
      AdamW.Params adam = new AdamW.Params(5e-3, 0.9, 0.95, 1e-8, 0, 0);
      double first = Double.NaN;
      double last = Double.NaN;
      for (int step = 0; step < 100; step++) {
        ForwardBackward.Result r =
            ForwardBackward.run(
                base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), true, m);
        AdamW.step(adapter, adam);
        if (step == 0) {
          first = r.loss();
        }
        last = r.loss();
      }
      assertThat(first).isGreaterThan(100); // ~40 tokens at ln(259) ≈ 5.6 each
      assertThat(last).isLessThan(0.05 * first);
    }
  }
}
