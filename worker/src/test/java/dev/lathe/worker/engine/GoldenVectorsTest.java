package dev.lathe.worker.engine;

import static dev.lathe.worker.Arrays2.doubles;
import static dev.lathe.worker.Arrays2.maxAbs;
import static dev.lathe.worker.Arrays2.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.store.PeftAdapter;
import dev.lathe.worker.store.Safetensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The engine against Hugging Face transformers + PEFT: src/test/python/make_golden.py recorded
 * logits, target log-probabilities, the weighted cross-entropy and every LoRA gradient for three
 * sequences, in float64, with a PEFT adapter of fixed weights that we load from PEFT's own files.
 * Cases: lathe-tiny, a Qwen2 model (q/k/v biases, tied embeddings) and a Llama model with llama3
 * RoPE scaling and an untied lm_head, the last two in transformers' current config format.
 */
class GoldenVectorsTest {

  static final Path GOLDEN = Path.of("src/test/resources/golden");

  enum Precision {
    FLOAT32(DataType.FLOAT32, 1e-4), // absolute
    // transformers runs RMSNorm and RoPE in float32 even in a float64 model, so its "float64"
    // reference carries float32 rounding there: 1e-5 of each tensor's scale is as close as the
    // two engines can agree.
    FLOAT64(DataType.FLOAT64, 1e-5);

    final DataType dtype;
    final double tolerance;

    Precision(DataType dtype, double tolerance) {
      this.dtype = dtype;
      this.tolerance = tolerance;
    }

    /** The largest difference accepted against an expected tensor. */
    double bound(double[] expected) {
      return this == FLOAT32 ? tolerance : tolerance * Math.max(1, maxAbs(expected));
    }
  }

  @ParameterizedTest
  @EnumSource(Precision.class)
  void latheTinyMatchesTransformersAndPeft(Precision precision) throws Exception {
    String recorded =
        WireJson.mapper()
            .readTree(GOLDEN.resolve("meta.json").toFile())
            .get("model_sha256")
            .asString();
    byte[] model = Files.readAllBytes(TinyModel.dir().resolve("model.safetensors"));
    assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(model)))
        .as("lathe-tiny must be generated exactly as when the golden vectors were made")
        .isEqualTo(recorded);
    check(TinyModel.dir(), GOLDEN, precision);
  }

  @ParameterizedTest
  @CsvSource({"qwen2, FLOAT32", "qwen2, FLOAT64", "llama3-rope, FLOAT32", "llama3-rope, FLOAT64"})
  void otherFamiliesMatchTransformersAndPeft(String family, Precision precision) throws Exception {
    Path dir = GOLDEN.resolve(family);
    check(dir.resolve("model"), dir, precision);
  }

  private static void check(Path modelDir, Path golden, Precision precision) throws Exception {
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = BaseModel.load(modelDir, m, precision.dtype);
        LoraAdapter adapter =
            PeftAdapter.load(golden.resolve("adapter"), base.config(), m, precision.dtype, false)) {
      compare(Safetensors.open(golden.resolve("golden.safetensors")), base, adapter, precision, m);
    }
  }

  private static void compare(
      Safetensors.File golden,
      BaseModel base,
      LoraAdapter adapter,
      Precision precision,
      NDManager m) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      List<ForwardBackward.Example> examples = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        double[] tokens = doubles(golden.load(m, "seq" + i + ".tokens", DataType.FLOAT64));
        int[] ids = new int[tokens.length];
        for (int t = 0; t < ids.length; t++) {
          ids[t] = (int) tokens[t];
        }
        examples.add(
            new ForwardBackward.Example(
                ids,
                Map.of(
                    "target_tokens",
                        doubles(golden.load(m, "seq" + i + ".targets", DataType.FLOAT64)),
                    "weights", doubles(golden.load(m, "seq" + i + ".weights", DataType.FLOAT64)))));

        // Logits of each sequence alone.
        NDArray logits =
            base.llama().forward(m.create(new long[][] {toLongs(ids)}), null, adapter.hook(), null);
        NDArray expected = golden.load(m, "seq" + i + ".logits", DataType.FLOAT64);
        assertThat(maxAbsDiff(logits.squeeze(0), expected))
            .as("logits of seq " + i)
            .isLessThan(precision.tolerance);
      }

      // All three as one padded batch, with backward.
      ForwardBackward.Result r =
          ForwardBackward.run(
              base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), true, m);
      for (int i = 0; i < 3; i++) {
        double[] lp = new double[r.logprobs().get(i).length];
        for (int t = 0; t < lp.length; t++) {
          lp[t] = r.logprobs().get(i)[t];
        }
        assertThat(
                maxAbsDiff(lp, doubles(golden.load(m, "seq" + i + ".logprobs", DataType.FLOAT64))))
            .as("logprobs of seq " + i)
            .isLessThan(
                precision == Precision.FLOAT64
                    ? 1e-6
                    : precision.tolerance); // results come back as float32
      }
      double loss = golden.load(m, "loss", DataType.FLOAT64).getDouble(0);
      assertThat(Math.abs(r.loss() - loss) / Math.abs(loss))
          .as("loss")
          .isLessThan(precision.tolerance);

      int checked = 0;
      for (LoraAdapter.Param p : adapter.parameters()) {
        NDArray expected = golden.load(m, "grad." + p.name(), DataType.FLOAT64);
        assertThat(maxAbsDiff(adapter.gradient(p), expected))
            .as("gradient of " + p.name())
            .isLessThan(precision.tolerance);
        checked++;
      }
      // Every linear of every layer, and lm_head: A and B each.
      assertThat(checked).isEqualTo((base.config().numHiddenLayers() * 7 + 1) * 2);
    }
  }

  private static long[] toLongs(int[] ids) {
    long[] out = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = ids[i];
    }
    return out;
  }
}
