package dev.lathe.api.system;

/** The base model this deployment serves, as the api validates against it. */
public record ServedModel(String name, int vocabSize, int maxContextLength) {}
