"""docs/processes.md shows what the machines in states/ say, not an older version of them."""

from states.docs import PAGE, PROCESSES, render


def test_the_process_page_is_generated_from_the_current_machines() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/processes.md is stale: run `uv run python -m states.docs`"
    )
    for process in PROCESSES:
        assert f"## {process.name}" in render()
        assert process.mermaid() in render()
