package dev.lathe.worker.io;

import dev.lathe.contracts.WireJson;
import dev.lathe.worker.store.Gguf;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The Hugging Face {@code tokenizer.json} and {@code tokenizer_config.json} of a GGUF file's
 * byte-level BPE tokenizer ({@code tokenizer.ggml.model = gpt2}), built from its {@code
 * tokenizer.ggml.*} metadata: the vocabulary and merges as they are, control tokens (type 3) as
 * special added tokens and user-defined ones (type 4) as plain added tokens, and the pre-tokenizer
 * llama.cpp uses for the file's {@code tokenizer.ggml.pre}.
 */
public final class GgufTokenizer {

  /** GPT-2's split, which the ByteLevel pre-tokenizer applies with {@code use_regex}. */
  private static final String GPT2 = "gpt2";

  /** llama.cpp's pre-tokenizers: digits one by one, then GPT-2's split. */
  private static final List<String> DIGITS_THEN_GPT2 =
      List.of("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva");

  private static final String LLAMA3_SPLIT =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
          + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  private static final Map<String, String> SPLITS =
      Map.of("llama-bpe", LLAMA3_SPLIT, "llama3", LLAMA3_SPLIT, "smaug-bpe", LLAMA3_SPLIT);

  private static final int CONTROL = 3;
  private static final int USER_DEFINED = 4;

  private GgufTokenizer() {}

  /**
   * {@code tokenizer.json}.
   *
   * @throws IllegalArgumentException naming the metadata key that is missing or unsupported
   */
  public static String tokenizerJson(Gguf gguf) {
    String model = gguf.string("tokenizer.ggml.model");
    if (!model.equals("gpt2")) {
      throw gguf.error(
          "tokenizer.ggml.model '" + model + "' is not supported (gpt2, byte-level BPE)");
    }
    List<String> tokens = gguf.strings("tokenizer.ggml.tokens");
    List<?> types = (List<?>) gguf.metadata().getOrDefault("tokenizer.ggml.token_type", List.of());
    List<String> merges = gguf.strings("tokenizer.ggml.merges");
    var json = WireJson.mapper();
    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    ObjectNode vocab = json.createObjectNode();
    for (int id = 0; id < tokens.size(); id++) {
      String token = tokens.get(id);
      vocab.put(token, id);
      long type = id < types.size() && types.get(id) instanceof Long t ? t : 1;
      if (type == CONTROL || type == USER_DEFINED) {
        added
            .addObject()
            .put("id", id)
            .put("content", token)
            .put("single_word", false)
            .put("lstrip", false)
            .put("rstrip", false)
            .put("normalized", type == USER_DEFINED)
            .put("special", type == CONTROL);
      }
    }
    root.putNull("normalizer");
    root.set("pre_tokenizer", preTokenizer(gguf));
    root.putNull("post_processor");
    root.putObject("decoder")
        .put("type", "ByteLevel")
        .put("add_prefix_space", true)
        .put("trim_offsets", true)
        .put("use_regex", true);
    ObjectNode bpe = root.putObject("model");
    bpe.put("type", "BPE");
    bpe.putNull("dropout");
    bpe.putNull("unk_token");
    bpe.putNull("continuing_subword_prefix");
    bpe.putNull("end_of_word_suffix");
    bpe.put("fuse_unk", false);
    bpe.put("byte_fallback", false);
    bpe.put("ignore_merges", false);
    bpe.set("vocab", vocab);
    ArrayNode m = bpe.putArray("merges");
    merges.forEach(m::add);
    return json.writeValueAsString(root);
  }

  /** {@code tokenizer_config.json}: the special tokens by name and the chat template. */
  public static String tokenizerConfig(Gguf gguf) {
    List<String> tokens = gguf.strings("tokenizer.ggml.tokens");
    ObjectNode config = WireJson.mapper().createObjectNode();
    config.put("tokenizer_class", "PreTrainedTokenizerFast");
    config.put(
        "add_bos_token", Boolean.TRUE.equals(gguf.metadata().get("tokenizer.ggml.add_bos_token")));
    config.put("clean_up_tokenization_spaces", false);
    for (String role : List.of("bos", "eos", "unknown", "padding")) {
      if (gguf.metadata().get("tokenizer.ggml." + role + "_token_id") instanceof Long id
          && id >= 0
          && id < tokens.size()) {
        String field =
            switch (role) {
              case "unknown" -> "unk_token";
              case "padding" -> "pad_token";
              default -> role + "_token";
            };
        config.put(field, tokens.get((int) (long) id));
      }
    }
    if (gguf.metadata().get("tokenizer.chat_template") instanceof String template) {
      config.put("chat_template", template);
    }
    config.put("model_max_length", 1_000_000_000_000_000L);
    return WireJson.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(config);
  }

  private static ObjectNode preTokenizer(Gguf gguf) {
    Object pre = gguf.metadata().getOrDefault("tokenizer.ggml.pre", GPT2);
    var json = WireJson.mapper();
    ObjectNode byteLevel =
        json.createObjectNode()
            .put("type", "ByteLevel")
            .put("add_prefix_space", false)
            .put("trim_offsets", true)
            .put("use_regex", true);
    if (pre.equals(GPT2) || pre.equals("default")) {
      return byteLevel;
    }
    ObjectNode sequence = json.createObjectNode().put("type", "Sequence");
    ArrayNode steps = sequence.putArray("pretokenizers");
    if (DIGITS_THEN_GPT2.contains(pre)) {
      steps.addObject().put("type", "Digits").put("individual_digits", true);
      steps.add(byteLevel);
      return sequence;
    }
    String split = SPLITS.get(pre);
    if (split == null) {
      throw gguf.error("tokenizer.ggml.pre '" + pre + "' is not supported");
    }
    ObjectNode s = steps.addObject().put("type", "Split");
    s.putObject("pattern").put("Regex", split);
    s.put("behavior", "Isolated").put("invert", false);
    steps.add(byteLevel.put("use_regex", false));
    return sequence;
  }
}
