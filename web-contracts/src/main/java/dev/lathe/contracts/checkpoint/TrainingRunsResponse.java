package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;
import java.util.List;

/** A page of training runs. */
@Wire
public record TrainingRunsResponse(List<TrainingRun> trainingRuns, Cursor cursor) {}
