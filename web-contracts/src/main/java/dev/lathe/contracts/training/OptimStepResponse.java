package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;
import java.util.Map;

/** Result of an {@code optim_step} future, e.g. {@code grad_norm:mean}. */
@Wire
public record OptimStepResponse(Map<String, Double> metrics) {}
