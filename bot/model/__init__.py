"""Everything that talks to the language model: the gateway (the one way to call a model), its cache and metering."""
