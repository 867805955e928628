-- One row per optim_step, for the loss and grad-norm curves of a training run.
CREATE TABLE step_metrics (
    training_run_id TEXT             NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
    step            INTEGER          NOT NULL CHECK (step > 0),
    loss            DOUBLE PRECISION,
    grad_norm       DOUBLE PRECISION,
    learning_rate   DOUBLE PRECISION,
    tokens          BIGINT           NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    recorded_at     TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (training_run_id, step)
);
