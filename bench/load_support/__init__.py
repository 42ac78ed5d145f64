"""The parts of `bench/load.py`: the workload, the generator, the model's answers, sampling, checking, reporting."""
