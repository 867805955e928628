package dev.lathe.worker.model.tiny;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.store.Safetensors;
import dev.lathe.worker.store.Trees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes {@code lathe-tiny}: a small Llama-architecture model with random weights generated
 * deterministically from a seed, as a real Hugging Face model directory ({@code config.json},
 * {@code model.safetensors}, a byte-level {@code tokenizer.json}) that transformers loads too. It
 * makes every part of Lathe run offline; the {@link Size#BENCH} size serves benchmarks.
 */
public final class LatheTiny {

  public static final String NAME = "lathe-tiny";
  public static final long SEED = 20261123L;
  static final int BYTES = 256;
  public static final int BOS = 256;
  public static final int EOS = 257;
  public static final int PAD = 258;
  static final int VOCAB = 259;
  static final double INIT_STD = 0.02;

  /** Model sizes the generator knows. */
  public enum Size {
    /** ~3M parameters: tests, CI and the all-in-one default. */
    TINY("lathe-tiny", 256, 704, 4, 8, 4),
    /** ~90M parameters: benchmarks. */
    BENCH("lathe-tiny-bench", 1024, 2816, 8, 16, 4);

    final String modelName;
    final int hidden;
    final int intermediate;
    final int layers;
    final int heads;
    final int kvHeads;

    Size(String modelName, int hidden, int intermediate, int layers, int heads, int kvHeads) {
      this.modelName = modelName;
      this.hidden = hidden;
      this.intermediate = intermediate;
      this.layers = layers;
      this.heads = heads;
      this.kvHeads = kvHeads;
    }

    public String modelName() {
      return modelName;
    }

    public LlamaConfig config() {
      return new LlamaConfig(
          List.of("LlamaForCausalLM"),
          "llama",
          hidden,
          intermediate,
          layers,
          heads,
          kvHeads,
          hidden / heads,
          1e-5,
          10000.0,
          null,
          null,
          2048,
          VOCAB,
          false,
          false,
          false,
          "silu",
          BOS,
          EOS,
          "float32");
    }
  }

  private LatheTiny() {}

  /**
   * Writes the model into {@code dir} unless it is there already. The directory appears whole or
   * not at all.
   */
  public static Path ensure(Path dir, Size size, NDManager manager) throws IOException {
    if (Files.isRegularFile(dir.resolve("config.json"))) {
      return dir;
    }
    Files.createDirectories(dir.getParent());
    Path tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".tmp");
    write(tmp, size, manager);
    try {
      Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      if (!Files.isRegularFile(dir.resolve("config.json"))) {
        throw e;
      }
      Trees.delete(tmp); // another process won the race
    }
    return dir;
  }

  /** Writes every file of the model into an existing directory. */
  public static void write(Path dir, Size size, NDManager manager) throws IOException {
    LlamaConfig c = size.config();
    var json = WireJson.mapper();
    ObjectNode config = json.valueToTree(c);
    config.put("pad_token_id", PAD);
    config.put("initializer_range", INIT_STD);
    json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), config);
    ObjectNode generation = json.createObjectNode();
    generation.put("bos_token_id", BOS).put("eos_token_id", EOS).put("pad_token_id", PAD);
    json.writerWithDefaultPrettyPrinter()
        .writeValue(dir.resolve("generation_config.json").toFile(), generation);
    Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson());
    ObjectNode tokConfig = json.createObjectNode();
    tokConfig
        .put("tokenizer_class", "PreTrainedTokenizerFast")
        .put("bos_token", "<|begin_of_text|>")
        .put("eos_token", "<|end_of_text|>")
        .put("pad_token", "<|pad|>")
        .put("model_max_length", c.maxPositionEmbeddings());
    json.writerWithDefaultPrettyPrinter()
        .writeValue(dir.resolve("tokenizer_config.json").toFile(), tokConfig);
    try (NDManager m = manager.newSubManager()) {
      Safetensors.write(dir.resolve("model.safetensors"), weights(c, m), Map.of("format", "pt"));
    }
  }

  /** Every tensor, named as Hugging Face names them, in a fixed order. */
  static Map<String, NDArray> weights(LlamaConfig c, NDManager m) {
    long h = c.hiddenSize();
    long q = (long) c.numAttentionHeads() * c.headDim();
    long kv = (long) c.numKeyValueHeads() * c.headDim();
    long inter = c.intermediateSize();
    Map<String, NDArray> w = new LinkedHashMap<>();
    w.put("model.embed_tokens.weight", normal(m, "model.embed_tokens.weight", c.vocabSize(), h));
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      String p = "model.layers." + l + ".";
      w.put(p + "input_layernorm.weight", m.ones(new Shape(h)));
      w.put(p + "self_attn.q_proj.weight", normal(m, p + "self_attn.q_proj.weight", q, h));
      w.put(p + "self_attn.k_proj.weight", normal(m, p + "self_attn.k_proj.weight", kv, h));
      w.put(p + "self_attn.v_proj.weight", normal(m, p + "self_attn.v_proj.weight", kv, h));
      w.put(p + "self_attn.o_proj.weight", normal(m, p + "self_attn.o_proj.weight", h, q));
      w.put(p + "post_attention_layernorm.weight", m.ones(new Shape(h)));
      w.put(p + "mlp.gate_proj.weight", normal(m, p + "mlp.gate_proj.weight", inter, h));
      w.put(p + "mlp.up_proj.weight", normal(m, p + "mlp.up_proj.weight", inter, h));
      w.put(p + "mlp.down_proj.weight", normal(m, p + "mlp.down_proj.weight", h, inter));
    }
    w.put("model.norm.weight", m.ones(new Shape(h)));
    w.put("lm_head.weight", normal(m, "lm_head.weight", c.vocabSize(), h));
    return w;
  }

  /** N(0, 0.02²) from a generator seeded by the tensor's name: stable across JVMs. */
  private static NDArray normal(NDManager m, String name, long rows, long cols) {
    Random rng = new Random(SEED * 31 + name.hashCode());
    float[] v = new float[Math.toIntExact(rows * cols)];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (rng.nextGaussian() * INIT_STD);
    }
    return m.create(v, new Shape(rows, cols));
  }

  /**
   * A byte-level BPE tokenizer without merges: token i is byte i (in GPT-2's byte-to-unicode
   * alphabet), then three special tokens.
   */
  static String tokenizerJson() {
    var json = WireJson.mapper();
    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    String[] specials = {"<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"};
    for (int i = 0; i < specials.length; i++) {
      added
          .addObject()
          .put("id", BYTES + i)
          .put("content", specials[i])
          .put("single_word", false)
          .put("lstrip", false)
          .put("rstrip", false)
          .put("normalized", false)
          .put("special", true);
    }
    root.putNull("normalizer");
    root.putObject("pre_tokenizer")
        .put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("trim_offsets", true)
        .put("use_regex", false);
    root.putNull("post_processor");
    root.putObject("decoder")
        .put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("trim_offsets", true)
        .put("use_regex", false);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE").putNull("dropout").putNull("unk_token");
    model.putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
    model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    int[] alphabet = byteAlphabet();
    for (int b = 0; b < BYTES; b++) {
      vocab.put(new String(Character.toChars(alphabet[b])), b);
    }
    model.putArray("merges");
    return json.writerWithDefaultPrettyPrinter().writeValueAsString(root);
  }

  /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 and up. */
  static int[] byteAlphabet() {
    List<Integer> printable = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) {
      printable.add(b);
    }
    for (int b = 0xA1; b <= 0xAC; b++) {
      printable.add(b);
    }
    for (int b = 0xAE; b <= 0xFF; b++) {
      printable.add(b);
    }
    int[] out = new int[BYTES];
    int next = 0;
    for (int b = 0; b < BYTES; b++) {
      out[b] = printable.contains(b) ? b : BYTES + next++;
    }
    return out;
  }
}
