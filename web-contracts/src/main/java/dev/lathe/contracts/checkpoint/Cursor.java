package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;

/** Paging of a list: where this page starts, its size, and how many there are in all. */
@Wire
public record Cursor(int offset, int limit, long totalCount) {}
