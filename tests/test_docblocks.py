"""revsde.docblocks: the generated blocks of the docs pages, read and rewritten in place."""

from __future__ import annotations

import pytest

from revsde.docblocks import read_block, write_block

PAGE = ("# Title\n\nProse before.\n\n<!-- table -->\n| a |\n|---|\n| 1 |\n<!-- /table -->\n\n"
        "Prose after, <!-- table --> named inline.\n")


def test_read_gives_the_text_between_the_marker_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    assert read_block(page, "table") == "| a |\n|---|\n| 1 |"


def test_write_replaces_only_the_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    body = "| b |\n|---|\n| 2 \\1 \\g<0> |"  # backslashes are text, not group references
    write_block(page, "table", body)
    assert read_block(page, "table") == body
    assert page.read_text() == PAGE.replace("| a |\n|---|\n| 1 |", body)
    write_block(page, "table", "")
    assert read_block(page, "table") == ""
    assert "<!-- table -->\n\n<!-- /table -->" in page.read_text()


def test_another_closing_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("x\n<!-- t:begin -->\nold\n<!-- t:end -->\ny\n")
    assert read_block(page, "t:begin", end="t:end") == "old"
    write_block(page, "t:begin", "new\nrows", end="t:end")
    assert page.read_text() == "x\n<!-- t:begin -->\nnew\nrows\n<!-- t:end -->\ny\n"
    with pytest.raises(ValueError, match="no <!-- t:begin --> block"):
        read_block(page, "t:begin")  # its closing line is not <!-- /t:begin -->


def test_a_missing_block_is_a_clear_error_and_writes_nothing(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    msg = (r"page.md has no <!-- other --> block \(a line <!-- other -->, the block, a line "
           r"<!-- /other -->\)")
    with pytest.raises(ValueError, match=msg):
        read_block(page, "other")
    with pytest.raises(ValueError, match=msg):
        write_block(page, "other", "text")
    assert page.read_text() == PAGE
