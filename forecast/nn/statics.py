"""Static covariates as the heads read them: categories as learned vectors, numbers as the data scaled them.

A category's vocabulary index is a name, not a quantity: fed raw into a linear layer, "south" (1)
would count as twice "north" (0) plus something. Each categorical column gets an embedding table
instead (Guo & Berkhahn, "Entity Embeddings of Categorical Variables", 2016).
"""

import torch
from torch import nn

from ..errors import whole_number

__all__ = ["StaticEmbedding"]


class StaticEmbedding(nn.Module):
    """Turns the data module's static features into ``[embeddings of the categories, numbers]``.

    The rows of every table start at zero, so that what the model learns does not depend on which
    index a category got: relabelling the categories (which reorders the sorted vocabulary) changes
    no forecast, and a category no training window shows keeps contributing nothing.

    Args:
        cardinalities: per static column, its number of categories, or 0 for a number (the data
            module's ``static_cardinalities``).
        embedding_size: features per categorical column.

    Shapes:
        static: (B, S) categories as vocabulary indices, numbers scaled -> (B, output_size), where
        output_size = categorical columns * embedding_size + numeric columns.

    Raises:
        ValueError: a column has categories but ``embedding_size`` is no whole number of 1 or more.
    """

    def __init__(self, cardinalities: list[int], embedding_size: int):
        super().__init__()
        sizes = [size for size in cardinalities if size]
        if sizes and not (whole_number(embedding_size) and embedding_size >= 1):
            raise ValueError(
                f"model.static_embedding_size={embedding_size!r}: the static covariates have categorical columns "
                f"(cardinalities {cardinalities}); set it to a whole number of 1 or more"
            )
        self.categorical = [j for j, size in enumerate(cardinalities) if size]
        self.numeric = [j for j, size in enumerate(cardinalities) if not size]
        self.embeddings = nn.ModuleList(nn.Embedding(size, embedding_size) for size in sizes)
        for embedding in self.embeddings:
            nn.init.zeros_(embedding.weight)
        self.output_size = len(sizes) * embedding_size + len(self.numeric)

    def forward(self, static: torch.Tensor) -> torch.Tensor:
        # static: (B, S)
        codes = static[:, self.categorical].long()  # -> (B, S_categorical)
        embedded = [embedding(codes[:, k]) for k, embedding in enumerate(self.embeddings)]  # each (B, E)
        return torch.cat([*embedded, static[:, self.numeric]], dim=-1)  # -> (B, output_size)
