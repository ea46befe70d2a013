"""Links never lead out of the folder being read (and so out of `data_root`), at any depth: a link to
/etc/passwd or to pairs outside is refused by name, never opened, never copied into the quarantine; other
entries that are not read (other file types, subfolders, broken links) are reported, not passed over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.data.config import DataConfig
from tasks.data.files import BadRowsError, read_valid_pairs
from tasks.data.ingest import ingest_files
from tasks.data.load import read_pair_records

PAIR = {"chosen": "The sky is blue.", "rejected": "The sky is a cat."}


@pytest.fixture
def linkdir(tmp_path: Path) -> Path:
    """data_root/a/b/linkdir: a real pair file, links out (to /etc/passwd, to pairs outside the root and to a
    file elsewhere inside the root), a link inside the folder, a note, a subfolder and a broken link."""
    root = tmp_path / "data"
    folder = root / "a" / "b" / "linkdir"
    folder.mkdir(parents=True)
    (folder / "good.jsonl").write_text(json.dumps(PAIR) + "\n")
    outside = tmp_path / "outside.jsonl"
    outside.write_text("".join(json.dumps({"chosen": f"secret {i}", "rejected": "x"}) + "\n" for i in range(50)))
    (root / "elsewhere.jsonl").write_text(json.dumps({"chosen": "ELSEWHERE-CONTENT", "rejected": "y"}) + "\n")
    (folder / "passwd.jsonl").symlink_to("/etc/passwd")
    (folder / "outside.jsonl").symlink_to(outside)
    (folder / "hop.jsonl").symlink_to("../../../elsewhere.jsonl")
    (folder / "same.jsonl").symlink_to("good.jsonl")
    (folder / "notes.txt").write_text("not pairs")
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.jsonl").symlink_to("/etc/passwd")
    (folder / "gone.jsonl").symlink_to("missing.jsonl")
    return folder


def test_folder_entries_not_read_are_records_with_their_rule(linkdir):
    records = read_pair_records([str(linkdir)])
    refused = {Path(r.source_file).name: (r.rule, r.error) for r in records if r.line == 0}
    assert {name: rule for name, (rule, _) in refused.items()} == {
        "gone.jsonl": "not_pair_file",
        "hop.jsonl": "outside_root",
        "notes.txt": "not_pair_file",
        "outside.jsonl": "outside_root",
        "passwd.jsonl": "outside_root",
        "sub": "not_pair_file",
    }
    assert "/etc/passwd" in refused["passwd.jsonl"][1] and "links must stay inside it" in refused["passwd.jsonl"][1]
    assert all(r.raw is None and r.fields is None for r in records if r.line == 0)
    read = [r.fields for r in records if r.line > 0]
    assert read == [PAIR, PAIR]  # good.jsonl and the link to it inside the folder


def test_ingest_stores_only_what_is_inside_and_quarantines_no_outside_content(linkdir, tmp_path):
    home = tmp_path / "home"
    report = ingest_files([str(linkdir)], home, DataConfig(min_good_fraction=0.0))
    assert report.good == 1 and report.by_rule["outside_root"] == 3 and report.by_rule["not_pair_file"] == 3
    quarantined = Path(report.quarantine_path).read_text()
    assert "root:x:0" not in quarantined and "secret 0" not in quarantined and "ELSEWHERE" not in quarantined
    rows = [json.loads(line) for line in quarantined.splitlines()]
    passwd = next(r for r in rows if r["source_file"].endswith("passwd.jsonl"))
    assert passwd["rules"] == ["outside_root"] and passwd["raw"] is None
    assert "outside the folder" in passwd["message"]


def test_command_line_reading_refuses_the_folder_naming_the_link(linkdir):
    with pytest.raises(BadRowsError, match=r"passwd\.jsonl:0: outside_root: .*/etc/passwd"):
        read_valid_pairs([str(linkdir)], DataConfig())


def test_a_clean_folder_reads_as_before(tmp_path):
    folder = tmp_path / "clean"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps(PAIR) + "\n")
    (folder / ".hidden").write_text("ignored")
    assert [r.fields for r in read_pair_records([str(folder)])] == [PAIR]


def test_a_run_with_data_root_reads_nothing_outside_it(linkdir, tmp_path):
    """`rewardflow run --data_root data --dataset_name a/b/linkdir`: the flow resolves the name inside the
    root (`checked_dataset`), then its ingest step reads the folder: the links out are refused there."""
    from flows.params import RewardFlowParams
    from flows.steps import checked_dataset
    from rmcore.data.safety import PathEscapeError

    root = linkdir.parents[2]
    params = RewardFlowParams(dataset_name="a/b/linkdir", data_root=str(root))
    report = ingest_files([checked_dataset(params)], tmp_path / "home", DataConfig(min_good_fraction=0.0))
    assert report.good == 1 and report.by_rule["outside_root"] == 3
    with pytest.raises(PathEscapeError, match="outside the data root"):
        checked_dataset(RewardFlowParams(dataset_name="a/b/linkdir/passwd.jsonl", data_root=str(root)))
