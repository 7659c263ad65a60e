"""datakit on Ray Data: `datakit render --engine ray` (`engine.py`, reading in `read.py`) and
`render_dataset` for pipelines that stay inside Ray (`dataset.py`). Needs `pip install "datakit[ray]"`;
nothing else in datakit imports this package."""

from .dataset import RENDERED_SCHEMA, datums, rejects, render_dataset

__all__ = ["RENDERED_SCHEMA", "datums", "rejects", "render_dataset"]
