-- What the worker has applied to a training run: the last seq_id it executed (create_model is
-- seq 0, the SDK numbers training calls from 1) and the step of the adapter's latest snapshot.
ALTER TABLE training_runs
    ADD COLUMN last_seq_id   INTEGER NOT NULL DEFAULT -1 CHECK (last_seq_id >= -1),
    ADD COLUMN snapshot_step INTEGER CHECK (snapshot_step >= 0),
    ADD COLUMN lora_seed     BIGINT;
