"""Shared fixtures: where the developers' real data lives, a private embedding cache."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep each test session's embeddings out of the user's cache (shared across tests for speed)."""
    monkeypatch.setenv("PGFA_CACHE", str(tmp_path_factory.getbasetemp() / "pgfa-cache"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA} (it lives beside the checkout)")
    return SHARED_DATA
