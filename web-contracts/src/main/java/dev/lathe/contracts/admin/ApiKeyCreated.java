package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;

/** A newly issued key. {@code api_key} is shown this once; Lathe keeps only its hash. */
@Wire
public record ApiKeyCreated(String apiKey, String keyPrefix) {}
