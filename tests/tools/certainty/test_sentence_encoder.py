"""The torch MiniLM encoder must give sentence-transformers' own embeddings."""

import pytest
import torch

from tools.certainty.sentence_encoder import default_encoder, model_folder

SENTENCES = [
    "The shape moves from left to right.",
    "The object gets smaller and fades out.",
    "No clear change.",
    "Le carré tourne lentement, n'est-ce pas? " * 40,  # truncated at 256 tokens
]


def test_unit_length_and_shape():
    emb = default_encoder().encode(SENTENCES)
    assert emb.shape == (4, 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)


def test_matches_sentence_transformers():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(model_folder()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_tensor=True, normalize_embeddings=True).cpu()
    got = default_encoder().encode(SENTENCES)
    assert torch.allclose(got, expected, atol=1e-4)


def test_padding_does_not_change_an_embedding():
    alone = default_encoder().encode(["A short one."])
    padded = default_encoder().encode(["A short one.", "A much longer sentence that forces padding of the first."])
    assert torch.allclose(alone[0], padded[0], atol=1e-5)
