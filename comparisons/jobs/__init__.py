"""What to run, and where its files go: the only modules of ``comparisons`` that drive the engines.

Each job builds the engine's configuration, calls the engine, and stores and summarises what it
returns (atomically, resumably). The engines themselves write nothing.
"""
