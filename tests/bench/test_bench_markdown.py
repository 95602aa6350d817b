"""The benchmark's markdown tables are well formed: every row has as many cells as the header."""
from tvm_dsprune.bench import suite
from tvm_dsprune.bench.layers import RATIOS
from tvm_dsprune.pruning.presets import PRESETS, label


def cells(line: str) -> int:
    return line.count("|") - 1


def test_markdown_tables_have_consistent_columns():
    layer = {"model": "m", "layer": "/features.1/conv/Conv", "channels": 32, "kernel": "3x3", "stride": 1,
             "input": "112x112", "onnxruntime dense": 0.09, "TVM dense": 0.17,
             **{f"TVM sparse {int(r * 100)}%": 0.1 for r in RATIOS}}
    e2e = {"model": "m", "pruning": "DW dcp-bh:0.78, PW filter-l2:0.5", "onnxruntime dense": 3.7,
           "onnxruntime pruned": 3.7, "TVM dense": 7.2, "TVM pruned": 5.8, "rel_error_vs_onnxruntime": 1e-6,
           "mac_limit": 1.4}
    text = suite.markdown({"layers": [layer], "end_to_end": [e2e]})
    tables = [t.splitlines() for t in text.split("\n\n")]
    assert len(tables) == 2
    for table in tables:
        header, sep, *rows = table
        assert set(sep.replace("|", "")) == {"-"}
        assert cells(sep) == cells(header)
        assert rows and all(cells(r) == cells(header) for r in rows)
    assert "0.64x" in tables[1][2]      # 3.7 / 5.8


def test_bench_refuses_an_unknown_preset(capsys):
    from tvm_dsprune.cli import main

    assert main(["bench", "--presets", "deprune-bh,nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_bench_end_to_end_on_the_tiny_model(tmp_path, capsys):
    """Both presets compile, match onnxruntime (checked inside) and land in JSON and markdown,
    with the MAC limit counted from the masks."""
    import json

    from tvm_dsprune.cli import main

    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    assert main(["bench", "--no-layers", "--e2e-models", "tiny", "--rounds", "1",
                 "--json", str(out_json), "--markdown", str(out_md)]) == 0
    rows = json.loads(out_json.read_text())["end_to_end"]
    assert [r["pruning"] for r in rows] == [label(p) for p in PRESETS.values()]
    assert all(r["rel_error_vs_onnxruntime"] < 1e-4 and r["TVM pruned"] > 0 and r["mac_limit"] > 1.0 for r in rows)
    assert out_md.read_text().count("| tiny |") == 2
