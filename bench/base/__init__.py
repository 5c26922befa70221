"""The base layer: what tasks, models and the harness stand on; it imports nothing else of this project.

errors (one-line input errors), sources (declared datasets and the one fetch), datasets (data roots, verified
downloads, safe extraction, feature caches), batching (length-sorted buckets, tensor data modules). See README,
Layout.

run: python -c "from bench.base.errors import unknown; print(unknown('model', 'lstn', ['lstm']))"
"""
