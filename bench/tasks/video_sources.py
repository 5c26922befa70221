"""Where real video datasets live and how they split: a class-per-folder tree, UCF101, HMDB51 and KTH.

- videofolder:PATH: PATH/<class>/<video> (any container PyAV reads), or PATH/{train,val,test}/<class>/<video>.
  Without split folders, 15 % of each class is validation and 15 % test (a fixed seed; --val-fraction, ...).
- ucf101: ROOT/UCF-101/<Class>/v_<Class>_gNN_cNN.avi and ROOT/ucfTrainTestlist/ (classInd, train/testlist0N).
  The official split N (--split, default 1); validation: the three lowest-numbered groups of the training list,
  since clips of one group share actor and scene.
- hmdb51: ROOT/videos/<action>/*.avi and ROOT/testTrainMulti_7030_splits/<action>_test_split<N>.txt (1 train,
  2 test, 0 unused by the split). Validation: --val-fraction of each class's training clips.
- kth: ROOT/<action>/personNN_<action>_dN_uncomp.avi, or the six zips downloaded from KTH. Person-based split of
  Schuldt et al. 2004: train persons 11-18, validation 19-21, 23-25, 1, 4, test 22, 2, 3, 5-10.

run: python -c "from bench.tasks.video_sources import kth_split; print(kth_split('person22_boxing_d1_uncomp.avi'))"
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import datasets
from bench.base.errors import BenchError
from bench.base.sources import Source, fetch
from bench.tasks.video_io import stratified_split

SPLITS = ("train", "val", "test")


@dataclass
class Listing:
    """Every video of a dataset with its class index and split."""

    classes: list[str]
    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)

    def add(self, path: Path, label: int, split: str) -> None:
        self.paths.append(path)
        self.labels.append(label)
        self.splits.append(split)


def _files(folder: Path) -> list[Path]:
    """The files of a class folder (hidden files such as .DS_Store left out); an empty folder is an error."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise BenchError(f"class folder {folder} is empty; add videos to it or remove it")
    return files


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def videofolder(root: str, val_fraction: float, test_fraction: float) -> Listing:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise BenchError(f"videofolder path '{path}' is not a folder; expected PATH/<class>/<videos>")
    top = _class_dirs(path)
    if not top:
        raise BenchError(f"videofolder '{path}' has no class sub-folders; expected PATH/<class>/<videos>")
    names = {p.name for p in top}
    if names <= set(SPLITS) and {"train", "test"} <= names:  # PATH/{train,val,test}/<class>/<videos>
        classes = sorted({c.name for split in top for c in _class_dirs(split)})
        listing = Listing(classes)
        for split in top:
            for c in _class_dirs(split):
                for f in _files(c):
                    listing.add(f, classes.index(c.name), split.name)
        if "val" not in names:
            _carve(listing, {"val": val_fraction})
    else:
        listing = Listing([p.name for p in top])
        for label, c in enumerate(top):
            for f in _files(c):
                listing.add(f, label, "train")
        _carve(listing, {"val": val_fraction, "test": test_fraction})
    if len(listing.classes) < 2:
        raise BenchError(f"videofolder '{path}' has {len(listing.classes)} class folder; need at least 2")
    return listing


def _carve(listing: Listing, fractions: dict[str, float]) -> None:
    """Move a stratified share of the training videos to other splits: fractions {"val": 0.15, ...}."""
    rows = [i for i, s in enumerate(listing.splits) if s == "train"]
    for i, s in zip(rows, stratified_split([listing.labels[i] for i in rows], fractions), strict=True):
        listing.splits[i] = s


UCF101 = Source(
    "ucf101",
    "ucf101/ucfTrainTestlist",
    "UCF101 with its official split files, from --data-dir ROOT or BENCH_DATA/ucf101",
    hint="; it is not downloaded automatically, use --data-dir ROOT",
)
HMDB51 = Source(
    "hmdb51",
    "hmdb51/testTrainMulti_7030_splits",
    "HMDB51 with its official split files, from --data-dir ROOT or BENCH_DATA/hmdb51",
    hint="; it is not downloaded automatically, use --data-dir ROOT",
)


def _root(source: Source, data_dir: str) -> Path:
    """ROOT holding the source's layout: --data-dir, else BENCH_DATA/<dataset> or the cache."""
    rel = Path(*Path(source.layout).parts[1:])  # the layout below the dataset's own folder
    if data_dir:
        root = Path(data_dir).expanduser()
        if not (root / rel).exists():
            raise datasets.missing(source.name, str(rel), f" (not under --data-dir {root})")
        return root
    return fetch(source).parents[len(rel.parts) - 1]


def _lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise BenchError(f"split file {path} not found")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def ucf101(data_dir: str, split: int) -> Listing:
    root = _root(UCF101, data_dir)
    lists, videos = root / "ucfTrainTestlist", root / "UCF-101"
    classes = [name for _, name in _lines(lists / "classInd.txt")]
    entries = [(row[0], "train") for row in _lines(lists / f"trainlist0{split}.txt")]
    entries += [(row[0], "test") for row in _lines(lists / f"testlist0{split}.txt")]
    groups = sorted({_ucf_group(rel) for rel, s in entries if s == "train"})
    listing = Listing(classes)
    for rel, s in entries:
        cls = rel.split("/")[0]
        if cls not in classes:
            raise BenchError(f"UCF101 split entry '{rel}' names class '{cls}', which is not in classInd.txt")
        s = "val" if s == "train" and _ucf_group(rel) in groups[:3] else s
        listing.add(videos / rel, classes.index(cls), s)
    _require_files(listing, "ucf101")
    return listing


def _ucf_group(rel: str) -> int:
    m = re.search(r"_g(\d+)_c\d+", rel)
    if not m:
        raise BenchError(f"UCF101 file name '{rel}' lacks its _gNN_cNN group and clip numbers")
    return int(m.group(1))


def hmdb51(data_dir: str, split: int, val_fraction: float) -> Listing:
    root = _root(HMDB51, data_dir)
    files = sorted((root / "testTrainMulti_7030_splits").glob(f"*_test_split{split}.txt"))
    if not files:
        raise BenchError(
            f"no HMDB51 split files *_test_split{split}.txt in {root / 'testTrainMulti_7030_splits'}"
        )
    classes = [f.name.removesuffix(f"_test_split{split}.txt") for f in files]
    listing = Listing(classes)
    for label, f in enumerate(files):
        for name, mark in _lines(f):
            if mark in ("1", "2"):  # 0: left out by this split
                listing.add(
                    root / "videos" / classes[label] / name, label, "train" if mark == "1" else "test"
                )
    _carve(listing, {"val": val_fraction})
    _require_files(listing, "hmdb51")
    return listing


def _require_files(listing: Listing, dataset: str) -> None:
    absent = [p for p in listing.paths if not p.is_file()]
    if absent:
        raise BenchError(
            f"{dataset}: {len(absent)} videos named by the split files are missing, first {absent[0]}"
        )


KTH_ACTIONS = ["boxing", "handclapping", "handwaving", "jogging", "running", "walking"]
# SHA-1 of the six zips as listed by the vipy library (github.com/visym/vipy, vipy/dataset/kthactions.py).
# KTH publishes no checksums; these are a third party's, not checked here against a download (written with
# no network). No SHA-256 is known, so none is claimed. A mismatch removes the download and stops.
KTH_SHA1 = {
    "walking": "a3e81537271a0ab4576591774baa38c2d97b7e3a",
    "jogging": "21943bdbcef9dad106db0d74661e49eaeaa15a25",
    "running": "da83bb313edfd4455fffdda6263696fa10d43c6f",
    "boxing": "adb36ed9c29c846d44d2ba15f348bd115c951bbd",
    "handwaving": "0792f7cd69f7f895a205c08ac212ddaa7177e370",
    "handclapping": "d3b81261aa822ef63d0d1523f945bfaff27814d2",
}
# One declared source per action: the zip, its SHA-1, and the videos in it that make the action's folder.
KTH = {
    action: Source(
        "kth",
        f"kth/{action}",
        url=f"http://www.csc.kth.se/cvap/actions/{action}.zip",
        sha1=sha1,
        member=f"**/person*_{action}_*.avi",
    )
    for action, sha1 in KTH_SHA1.items()
}
KTH_PERSONS = {
    "train": {11, 12, 13, 14, 15, 16, 17, 18},
    "val": {19, 20, 21, 23, 24, 25, 1, 4},
    "test": {22, 2, 3, 5, 6, 7, 8, 9, 10},
}
KTH_NAME = re.compile(r"^person(\d\d)_([a-z]+)_d[1-4]_uncomp\.avi$")


def kth_split(name: str) -> str:
    m = KTH_NAME.match(name)
    if not m:
        raise BenchError(f"unexpected KTH file name '{name}'; expected personNN_<action>_dN_uncomp.avi")
    person = int(m.group(1))
    return next(s for s, persons in KTH_PERSONS.items() if person in persons)


def kth(data_dir: str) -> Listing:
    """Each action's folder from --data-dir ROOT, else BENCH_DATA or the cache, else its verified zip."""
    if data_dir:
        root = _root(KTH[KTH_ACTIONS[0]], data_dir)
        folders = {action: root / action for action in KTH_ACTIONS}
    else:  # every action on its own: a rerun after a failed download resumes with the missing ones
        folders = {action: fetch(KTH[action]) for action in KTH_ACTIONS}
    listing = Listing(KTH_ACTIONS)
    for label, action in enumerate(KTH_ACTIONS):
        if not folders[action].is_dir():
            raise datasets.missing(
                "kth", f"kth/{action}", f" ({folders[action].parent} lacks the '{action}' folder)"
            )
        for f in _files(folders[action]):
            listing.add(f, label, kth_split(f.name))
    return listing
