package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/** A {@code [token_id, logprob]} pair, as the SDK's top-k prompt logprobs tuples. */
@JsonFormat(shape = JsonFormat.Shape.ARRAY)
@JsonPropertyOrder({"token", "logprob"})
public record TokenLogprob(int token, double logprob) {}
