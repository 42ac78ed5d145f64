"""The team's documents: ingestion, the persisted index, embeddings and hybrid retrieval (LlamaIndex).

Everything here imports LlamaIndex lazily (through `knowledge.llama`), so patterns that never touch documents
do not pay for it at start-up.
"""
