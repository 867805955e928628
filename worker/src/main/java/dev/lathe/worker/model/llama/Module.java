package dev.lathe.worker.model.llama;

/** The linear layers of the decoder that LoRA can adapt, with their Hugging Face names. */
public enum Module {
  Q_PROJ("self_attn.q_proj", Group.ATTENTION),
  K_PROJ("self_attn.k_proj", Group.ATTENTION),
  V_PROJ("self_attn.v_proj", Group.ATTENTION),
  O_PROJ("self_attn.o_proj", Group.ATTENTION),
  GATE_PROJ("mlp.gate_proj", Group.MLP),
  UP_PROJ("mlp.up_proj", Group.MLP),
  DOWN_PROJ("mlp.down_proj", Group.MLP),
  LM_HEAD("lm_head", Group.UNEMBED);

  /** Which LoRA switch ({@code train_attn}, {@code train_mlp}, {@code train_unembed}) covers it. */
  public enum Group {
    ATTENTION,
    MLP,
    UNEMBED
  }

  private final String hfName;
  private final Group group;

  Module(String hfName, Group group) {
    this.hfName = hfName;
    this.group = group;
  }

  public Group group() {
    return group;
  }

  /** Short name, as PEFT's target_modules lists it ({@code q_proj}, {@code lm_head}). */
  public String shortName() {
    return hfName.substring(hfName.lastIndexOf('.') + 1);
  }

  /** The module's path in a Hugging Face checkpoint, e.g. {@code model.layers.3.mlp.up_proj}. */
  public String path(int layer) {
    return this == LM_HEAD ? hfName : "model.layers." + layer + "." + hfName;
  }

  /** Input and output width of this linear under a config. */
  public int[] inOut(LlamaConfig c) {
    int q = c.numAttentionHeads() * c.headDim();
    int kv = c.numKeyValueHeads() * c.headDim();
    int h = c.hiddenSize();
    return switch (this) {
      case Q_PROJ -> new int[] {h, q};
      case K_PROJ, V_PROJ -> new int[] {h, kv};
      case O_PROJ -> new int[] {q, h};
      case GATE_PROJ, UP_PROJ -> new int[] {h, c.intermediateSize()};
      case DOWN_PROJ -> new int[] {c.intermediateSize(), h};
      case LM_HEAD -> new int[] {h, c.vocabSize()};
    };
  }
}
