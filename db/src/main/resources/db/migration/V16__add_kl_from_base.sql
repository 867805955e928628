-- The forgetting probe: forwards' KL from the base model, summed with the tokens it was measured
-- on, per step (their mean per token is sum / tokens, however many forwards or chunks probed that
-- step). A probe may run before the first optimizer step (step 0: a fresh or loaded adapter).
ALTER TABLE step_metrics ADD COLUMN kl_from_base_sum DOUBLE PRECISION CHECK (kl_from_base_sum >= 0);
ALTER TABLE step_metrics ADD COLUMN kl_from_base_tokens BIGINT NOT NULL DEFAULT 0
    CHECK (kl_from_base_tokens >= 0);
ALTER TABLE step_metrics DROP CONSTRAINT step_metrics_step_check;
ALTER TABLE step_metrics ADD CONSTRAINT step_metrics_step_check CHECK (step >= 0);
