"""The benchmark's markdown tables are well formed: every row has as many cells as the header."""
from tvm_dsprune import bench


def cells(line: str) -> int:
    return line.count("|") - 1


def test_markdown_tables_have_consistent_columns():
    layer = {"model": "m", "layer": "/features.1/conv/Conv", "channels": 32, "kernel": "3x3", "stride": 1,
             "input": "112x112", "onnxruntime dense": 0.09, "TVM dense": 0.17,
             **{f"TVM sparse {int(r * 100)}%": 0.1 for r in bench.RATIOS}}
    e2e = {"model": "m", "pruning": "DW dcp-bh:0.78, PW filter-l2:0.5", "onnxruntime dense": 3.7,
           "onnxruntime pruned": 3.7, "TVM dense": 7.2, "TVM pruned": 5.8, "rel_error_vs_onnxruntime": 1e-6}
    text = bench.markdown({"layers": [layer], "end_to_end": [e2e]})
    tables = [t.splitlines() for t in text.split("\n\n")]
    assert len(tables) == 2
    for table in tables:
        header, sep, *rows = table
        assert set(sep.replace("|", "")) == {"-"}
        assert cells(sep) == cells(header)
        assert rows and all(cells(r) == cells(header) for r in rows)
    assert "0.64x" in tables[1][2]      # 3.7 / 5.8
