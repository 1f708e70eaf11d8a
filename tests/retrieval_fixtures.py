"""Models and a small index shared by the retrieval tests (loaded once per session)."""

from pathlib import Path
from typing import Any

import pytest
from distill_fixtures import ITEMS


@pytest.fixture(scope="session")
def bi_encoder() -> Any:
    from enrich.retrieval.encoder import load_bi_encoder

    return load_bi_encoder(None)[0]


@pytest.fixture(scope="session")
def cross_encoder() -> Any:
    """MiniLM with an untrained (seeded) one-logit head: enough to test the plumbing."""
    import torch

    from enrich.retrieval.encoder import load_cross_encoder

    torch.manual_seed(0)
    return load_cross_encoder(None, max_length=64)[0]


@pytest.fixture(scope="session")
def index_folder(tmp_path_factory: pytest.TempPathFactory, bi_encoder: Any) -> Path:
    from enrich.retrieval import ItemIndex

    folder = tmp_path_factory.mktemp("index")
    metadata = [{"price": float(n), "title": text[:20]} for n, text in enumerate(ITEMS.values())]
    ItemIndex.build(list(ITEMS), list(ITEMS.values()), model=bi_encoder, metadata=metadata,
                    show_progress=False).save(folder)
    return folder
