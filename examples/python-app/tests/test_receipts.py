"""Tests for receipt files."""
from shop.receipts import folder_size_kb


def test_folder_size_counts_kilobytes(tmp_path):
    (tmp_path / "receipt-1.txt").write_text("x" * 8192)
    assert folder_size_kb(tmp_path) >= 8
