package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** The optimizer family of a training run, by {@code type} ({@code adamw}, {@code dimuon}, ...). */
@Wire
public record OptimizerConfig(String type) {

  public static final String ADAMW = "adamw";
}
