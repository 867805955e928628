package dev.lathe.contracts.sampling;

import dev.lathe.contracts.Wire;

/** {@code GET /api/v1/samplers/{id}}. */
@Wire
public record GetSamplerResponse(String samplerId, String baseModel, String modelPath) {}
