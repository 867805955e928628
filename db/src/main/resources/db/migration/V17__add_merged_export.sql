-- merged_export: a Lathe extension, run by the worker off its clock cycle.
ALTER TABLE requests DROP CONSTRAINT requests_kind_check;
ALTER TABLE requests ADD CONSTRAINT requests_kind_check CHECK (kind IN (
    'create_model', 'unload_model', 'forward', 'forward_backward', 'optim_step', 'save_weights',
    'save_weights_for_sampler', 'load_weights', 'sample', 'adapter_diagnostics', 'merged_export'));
